// Package cli is the program both binaries run: it picks the personality
// (daemon or shell) from the binary name and -S/-D as osquery does, parses
// flags, and starts the shell or the daemon.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/daemon"
	"github.com/gosquery/gosquery/internal/extensions"
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/hostid"
	"github.com/gosquery/gosquery/internal/logging"
	"github.com/gosquery/gosquery/internal/shell"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/table"
	_ "github.com/gosquery/gosquery/internal/tables/all" // every core table
	"github.com/gosquery/gosquery/internal/version"
)

// defaultFlagfile is read when no --flagfile is given, as osquery does.
const defaultFlagfile = "/etc/osquery/osquery.flags.default"

// Main runs gosquery with argv and returns the exit code. Setting
// GOSQUERY_CPUPROFILE=<file> writes a Go CPU profile of the run, for
// performance work on a live host.
func Main(argv []string) int {
	if path := os.Getenv("GOSQUERY_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer func() {
				pprof.StopCPUProfile()
				f.Close()
			}()
		}
	}
	return run(argv, os.Stdin, os.Stdout, os.Stderr)
}

// personality strips -S/-D and reports whether to run as the daemon.
func personality(argv []string) (daemon bool, args []string) {
	daemon = strings.Contains(filepath.Base(argv[0]), "osqueryd")
	for _, a := range argv[1:] {
		switch a {
		case "-S", "--S":
			daemon = false
		case "-D", "--D":
			daemon = true
		default:
			args = append(args, a)
		}
	}
	return daemon, args
}

func run(argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	daemon, args := personality(argv)
	prog := "osqueryi"
	if daemon {
		prog = "osqueryd"
	}
	for _, a := range args {
		switch a {
		case "--help", "-help", "-h", "--h":
			printUsage(stdout, prog)
			return 0
		case "--version", "-version":
			fmt.Fprintf(stdout, "%s version %s\n", prog, version.Osquery)
			return 0
		}
	}
	fl := flags.Standard()
	if !daemon {
		// The shell collects no events unless asked.
		fl.SetDefault("disable_events", "true")
	}
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(strings.TrimLeft(a, "-"), "flagfile") }) {
		if _, err := os.Stat(defaultFlagfile); err == nil {
			if err := fl.ApplyFlagfile(defaultFlagfile); err != nil {
				fmt.Fprintf(stderr, "ERROR: %v\n", err)
				return 1
			}
		}
	}
	rest, err := fl.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "ERROR: %v\n", err)
		return 1
	}
	if daemon {
		return runDaemon(fl, stdout, stderr)
	}
	return runShell(fl, rest, stdin, stdout, stderr)
}

// newLogger returns the status logger: glog lines on stderr at WARNING and
// above, INFO too with --verbose.
func newLogger(fl *flags.Set, stderr io.Writer) (*slog.Logger, *logging.Handler) {
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	if fl.Bool("verbose") {
		level.Set(slog.LevelInfo)
	}
	h := logging.NewHandler(stderr, level)
	return slog.New(h), h
}

// runtimeInfo describes this process for the osquery_* tables. The shell's
// instance id is per process, as osquery's ephemeral shell database is.
func runtimeInfo() *table.Runtime {
	uuid, ok := hostid.HardwareUUID("/", "/sys")
	if !ok {
		uuid = hostid.Random()
	}
	return &table.Runtime{
		Version:    version.Osquery,
		StartTime:  time.Now(),
		PID:        os.Getpid(),
		InstanceID: hostid.Random(),
		HostUUID:   uuid,
		Watcher:    -1,
	}
}

func runShell(fl *flags.Set, rest []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// osqueryi forces these after parsing; they cannot be re-enabled.
	fl.SetDefault("disable_logging", "true")
	fl.SetDefault("disable_watchdog", "true")
	log, _ := newLogger(fl, stderr)
	env := table.HostEnv(fl, table.Default, log)
	env.Runtime = runtimeInfo()
	db, err := sqlengine.Open(env)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 78
	}
	defer db.Close()

	// The shell collects events only when asked (--disable_events=false),
	// and then in any mode, piped or one-shot included.
	if !fl.Bool("disable_events") {
		ev, err := startEvents(context.Background(), env, shellDatabasePath(fl), log)
		if err != nil {
			fmt.Fprintf(stderr, "Error: %v\n", err)
			return 78
		}
		defer func() {
			ev.stopSig()
			ev.stop()
			if r := recover(); r != nil {
				panic(r)
			}
		}()
	}

	oneShot := fl.Bool("L") || fl.Get("A") != "" || fl.Get("query") != "" || fl.Get("query_file") != "" || len(rest) > 0
	stdinFile, _ := stdin.(*os.File)
	interactive := !oneShot && stdinFile != nil && isTerminal(stdinFile)
	if shellWantsExtensions(fl, interactive) {
		mgr, rc := startShellExtensions(fl, env, log, stderr)
		if rc != 0 {
			return rc
		}
		if mgr != nil {
			defer mgr.Close()
		}
	}

	out := stdout
	if path := fl.Get("output"); path != "" && path != "-" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(stderr, "Error: cannot open output file: %v\n", err)
			return 1
		}
		defer f.Close()
		out = f
	}
	sh := &shell.Shell{
		Exec:    db,
		Local:   db,
		Tables:  env.Tables,
		Flags:   fl,
		Version: version.Osquery,
		Out:     out,
		Err:     stderr,
		Printer: shell.Printer{
			Mode:      shell.ModePretty,
			Header:    fl.Bool("header"),
			Separator: fl.Get("separator"),
			NullValue: fl.Get("nullvalue"),
		},
	}
	// .connect and --connect run statements in a daemon through its
	// extension socket.
	sh.Connect = func(path string) (shell.Executor, error) {
		return extensions.Connect(path, time.Duration(fl.Int("thrift_timeout"))*time.Second)
	}
	if path := fl.Get("connect"); path != "" {
		if rc, _ := sh.Meta(context.Background(), ".connect '"+path+"'"); rc != 0 {
			return rc
		}
	}
	// osquery applies list, line and csv in that order; json and
	// json_pretty replace the pretty printer.
	switch {
	case fl.Bool("list"):
		sh.Printer.Mode = shell.ModeList
	case fl.Bool("line"):
		sh.Printer.Mode = shell.ModeLine
	case fl.Bool("csv"):
		sh.Printer.Mode = shell.ModeCSV
	case fl.Bool("json"):
		sh.Printer.Mode = shell.ModeJSON
	case fl.Bool("json_pretty"):
		sh.Printer.Mode = shell.ModeJSONPretty
	}
	ctx := context.Background()

	// One-shot modes, in osquery's precedence order.
	switch {
	case fl.Bool("L"):
		return sh.RunQuery(ctx, ".tables")
	case fl.Get("A") != "":
		return sh.RunQuery(ctx, ".all "+fl.Get("A"))
	case fl.Get("query") != "":
		return sh.RunQuery(ctx, fl.Get("query"))
	case fl.Get("query_file") != "":
		f, err := os.Open(fl.Get("query_file"))
		if err != nil {
			fmt.Fprintf(stderr, "Error: cannot read query file: %v\n", err)
			return 1
		}
		defer f.Close()
		return sh.ProcessInput(ctx, f)
	case len(rest) > 0:
		return sh.RunQuery(ctx, strings.Join(rest, " "))
	}
	if interactive {
		return sh.Interactive(ctx)
	}
	return sh.ProcessInput(ctx, stdin)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// printUsage prints osquery-style help: CLI-only flags, then the flags a
// config may set, then the shell's.
func printUsage(w io.Writer, prog string) {
	fmt.Fprintf(w, "gosquery %s, osquery %s compatible\nUsage: %s [OPTION]... [SQL STATEMENT]\n", version.Gosquery, version.Osquery, prog)
	all := flags.Standard().All()
	section := func(title string, keep func(flags.Info) bool) {
		fmt.Fprintf(w, "\n%s\n", title)
		for _, f := range all {
			if keep(f) {
				fmt.Fprintf(w, "    --%-40s %s\n", f.Name+valueHint(f), f.Description)
			}
		}
	}
	section("osquery command line flags:", func(f flags.Info) bool { return f.Class == flags.CLI })
	section("osquery configuration options (set by config or CLI flags):", func(f flags.Info) bool { return f.Class == flags.Normal })
	section("osquery shell-only CLI flags:", func(f flags.Info) bool { return f.Class == flags.Shell })
}

func valueHint(f flags.Info) string {
	switch f.Type {
	case flags.Bool:
		return ""
	case flags.String:
		return " VALUE"
	}
	return " N"
}

// runDaemon starts osqueryd. Statuses go to stderr at or above
// --logger_min_stderr (osquery's glog lines) unless --logger_stderr=false,
// and to the logger plugins.
func runDaemon(fl *flags.Set, stdout, stderr io.Writer) int {
	level := new(slog.LevelVar)
	levels := []slog.Level{slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelError + 4}
	level.Set(levels[min(max(int(fl.Int("logger_min_stderr")), 0), 3)])
	if fl.Bool("verbose") {
		level.Set(slog.LevelDebug)
	}
	out := stderr
	if !fl.Bool("logger_stderr") {
		out = io.Discard
	}
	h := logging.NewHandler(out, level)
	log := slog.New(h)
	env := table.HostEnv(fl, table.Default, log)
	env.Runtime = runtimeInfo()
	return daemon.Run(daemon.Options{Flags: fl, Stdout: stdout, Stderr: stderr, Env: env, Level: level, Status: h})
}
