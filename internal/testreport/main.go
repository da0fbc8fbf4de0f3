// Command testreport runs go test and prints what plain go test prints for
// packages and failing tests, then lists every skipped test with its
// reason and totals. It exists because plain go test is silent about
// skips: tests that need root skip when not root, and a run in which they
// all skipped reads exactly like one in which they ran.
//
// Usage:
//
//	go run ./internal/testreport -- [go test flags and packages]
//
// It runs `go test -json` with those arguments, passes go test's standard
// error through unchanged, and exits 1 if go test or anything in it failed,
// 2 if go test could not be started.
package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// module is trimmed from package paths in SKIP lines, which name tests
// the way a reader of this repository would.
const module = "github.com/gosquery/gosquery"

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// run runs go test with args and reports on it to stdout, returning the
// exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := exec.Command("go", append([]string{"test", "-json"}, args...)...)
	cmd.Stderr = stderr
	// Its own process group, so that a forwarded signal reaches the test
	// binaries too: go test ignores SIGINT itself, expecting the terminal
	// to have sent it to them, which a `kill` of this process does not.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	events, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		fmt.Fprintf(stderr, "testreport: cannot run go test: %v\n", err)
		return 2
	}

	// Forward rather than die: the test binaries stop, go test's stream
	// ends, and whatever ran is still reported.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			syscall.Kill(-cmd.Process.Pid, s.(syscall.Signal))
		}
	}()

	r := NewReport(stdout, module)
	readErr := r.Feed(events)
	if readErr != nil {
		io.Copy(io.Discard, events) // let go test finish rather than block on a full pipe
	}
	waitErr := cmd.Wait()
	r.Finish()
	if readErr != nil {
		fmt.Fprintf(stderr, "testreport: reading go test output: %v\n", readErr)
	}
	if readErr != nil || waitErr != nil || r.Failed() {
		return 1
	}
	return 0
}
