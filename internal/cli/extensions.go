package cli

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gosquery/gosquery/internal/extensions"
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/version"
)

// shellWantsExtensions reports whether the shell serves an extension
// socket. osquery's shell always does; gosquery's does when something can
// use it: an interactive session, --extension, an autoload list, a
// required extension or an explicit --extensions_socket. A one-shot query
// with none of these could not see an extension register in time, and
// skipping the socket keeps its start-up as fast as a plain query.
func shellWantsExtensions(fl *flags.Set, interactive bool) bool {
	if fl.Bool("disable_extensions") {
		return false
	}
	return interactive || fl.Get("extension") != "" || fl.Get("extensions_autoload") != "" ||
		fl.Get("extensions_require") != "" || fl.Changed("extensions_socket")
}

// shellSocketDir is osquery's shell home: ~/.osquery, or $TMPDIR/osquery-N
// when the home directory cannot be used.
func shellSocketDir() string {
	if home, err := os.UserHomeDir(); err == nil {
		dir := filepath.Join(home, ".osquery")
		if os.MkdirAll(dir, 0o700) == nil {
			return dir
		}
	}
	return filepath.Join(os.TempDir(), "osquery-"+strconv.Itoa(20000+rand.IntN(10000)))
}

// startShellExtensions starts the shell's extension manager. Unless
// --extensions_socket is given it serves ~/.osquery/shell.em, or that name
// with a random number appended when another shell holds it, as osquery
// does. --extension PATH runs one extension, restarted if it exits, and the
// shell waits up to --extensions_timeout for it to register so that the
// first statement can use its tables. A manager that cannot start only
// costs the shell its extensions, unless --extensions_require asked for
// one: then the shell exits 78.
func startShellExtensions(fl *flags.Set, env *table.Env, log *slog.Logger, stderr io.Writer) (*extensions.Manager, int) {
	explicit := fl.Changed("extensions_socket")
	if !explicit {
		fl.Set("extensions_socket", filepath.Join(shellSocketDir(), "shell.em"))
	}
	base := fl.Get("extensions_socket")
	var mgr *extensions.Manager
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		mgr, err = extensions.Start(extensions.Options{
			Flags: fl, Env: env, Log: log, Version: version.Osquery, Extension: fl.Get("extension"),
		})
		if err == nil || explicit || fl.Get("extensions_require") != "" {
			break
		}
		fl.Set("extensions_socket", base+strconv.Itoa(rand.IntN(100000)))
	}
	if err != nil {
		if fl.Get("extensions_require") != "" {
			fmt.Fprintln(stderr, "Error: "+err.Error())
			return nil, 78
		}
		log.Warn("Extensions disabled: " + err.Error())
		return nil, 0
	}
	if fl.Get("extension") != "" && !mgr.WaitForExtension() {
		log.Warn("Extension did not register within --extensions_timeout: " + fl.Get("extension"))
	}
	return mgr, 0
}
