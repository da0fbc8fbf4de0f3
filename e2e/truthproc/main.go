// Command truthproc is the test process of the ancestry ground-truth tests
// (e2e/truth_test.go). Every instance records its own truth when it starts
// (pid, start time, parent and the parent's start time, executable, argv,
// all read from /proc at that moment), then plays a role: a holder in a
// tree of live processes, a parent that exits right after its child
// starts, a double-forking launcher, a churner that recycles pids. The test
// compares each process_events row's ancestry with these records.
//
// A child's parent is passed in GOSQ_TRUTH_PARENT ("pid:start") by the
// parent itself, so the record names the process that forked it even when
// that parent has exited (and the child was reparented) before the child
// could read /proc.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gosquery/gosquery/e2e/truthrec"
)

// Record is one process image as it started.
type Record = truthrec.Record

const (
	dirEnv    = "GOSQ_TRUTH_DIR"
	parentEnv = "GOSQ_TRUTH_PARENT"
	walkEnv   = "GOSQ_TRUTH_WALK" // pid at which to stop walking up /proc
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: truthproc ROLE ID [ARGS]")
		os.Exit(2)
	}
	self := record(os.Getpid())
	if p := os.Getenv(parentEnv); p != "" {
		pid, start, _ := strings.Cut(p, ":")
		self.PPID, _ = strconv.Atoi(pid)
		self.PStart, _ = strconv.ParseUint(start, 10, 64)
	}
	save(self)
	if stop, err := strconv.Atoi(os.Getenv(walkEnv)); err == nil {
		walk(self.PPID, stop)
	}
	role, id, args := os.Args[1], os.Args[2], os.Args[3:]
	switch role {
	case "leaf":
		// Recorded; nothing else to do.
	case "holder":
		holder(id, args)
	case "forker":
		wait(start("leaf", id+"-c"))
	case "quitter":
		start("leaf", id+"-c") // and exit at once, before the child is done
	case "launcher":
		launcher(id)
	case "middle":
		if _, err := syscall.Setsid(); err != nil {
			fail("setsid: %v", err)
		}
		start("grandchild", id+"-g")
	case "grandchild":
		grandchild(id)
	case "churn":
		churn(id, args)
	default:
		fail("unknown role %q", role)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "truthproc: "+format+"\n", args...)
	os.Exit(1)
}

// record reads what /proc says of pid now.
func record(pid int) Record {
	r := Record{PID: pid}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return r
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return r
	}
	r.Comm = s[open+1 : closing]
	f := strings.Fields(s[closing+1:])
	if len(f) > 19 {
		r.PPID, _ = strconv.Atoi(f[1])
		r.Start, _ = strconv.ParseUint(f[19], 10, 64)
	}
	if r.PPID > 0 {
		r.PStart = startOf(r.PPID)
	}
	if link, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		r.Exe = strings.TrimSuffix(link, " (deleted)")
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		r.Cmdline = strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
	}
	return r
}

func startOf(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// save writes the record to a file of its own (pid.start.n), so that
// hundreds of processes never share a file.
func save(r Record) {
	b, _ := json.Marshal(r)
	dir := os.Getenv(dirEnv)
	for n := 0; ; n++ {
		name := filepath.Join(dir, fmt.Sprintf("%d.%d.%d", r.PID, r.Start, n))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if os.IsExist(err) {
			continue
		}
		if err != nil {
			fail("record: %v", err)
		}
		f.Write(append(b, '\n'))
		f.Close()
		return
	}
}

// walk records the ancestors from pid up to stop (excluded), as /proc
// shows them now: the shells between the test and a truthproc leaf.
func walk(pid, stop int) {
	for pid > 0 && pid != stop {
		r := record(pid)
		if r.Start == 0 {
			return
		}
		r.Walked = true
		save(r)
		pid = r.PPID
	}
}

// start runs this program in role with id, telling the child who its
// parent is.
func start(role, id string, args ...string) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		fail("%v", err)
	}
	cmd := exec.Command(self, append([]string{role, id}, args...)...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%d", parentEnv, os.Getpid(), startOf(os.Getpid())))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fail("start %s: %v", role, err)
	}
	return cmd
}

func wait(cmd *exec.Cmd) {
	if err := cmd.Wait(); err != nil {
		fail("%s: %v", strings.Join(cmd.Args, " "), err)
	}
}

// waitFile polls until path exists (the test's signal), or fails after
// five minutes so that no process outlives a failed test for long.
func waitFile(path string) {
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	fail("gave up waiting for %s", path)
}

// holder spawns the next level of the tree (fanout "8,8,7": eight
// children, each with eight, each with seven), and stays alive until the
// test says stop. A holder with no children left to spawn is a leaf
// holder: on the test's "go" it execs itself as a leaf, without a fork.
func holder(id string, args []string) {
	dir := os.Getenv(dirEnv)
	if len(args) == 0 || args[0] == "-" {
		waitFile(filepath.Join(dir, "go"))
		self, _ := os.Executable()
		err := syscall.Exec(self, []string{self, "leaf", id + "-x"}, os.Environ())
		fail("exec: %v", err)
	}
	first, rest, _ := strings.Cut(args[0], ",")
	n, err := strconv.Atoi(first)
	if err != nil {
		fail("fanout %q", args[0])
	}
	var kids []*exec.Cmd
	if rest == "" {
		rest = "-" // an empty argument would read differently from audit and /proc
	}
	for i := range n {
		kids = append(kids, start("holder", fmt.Sprintf("%s.%d", id, i), rest))
	}
	waitFile(filepath.Join(dir, "stop"))
	for _, k := range kids {
		k.Wait()
	}
}

// launcher double-forks: its child (middle) starts a new session, starts
// the grandchild and exits; the grandchild, reparented, execs. The
// launcher waits for the grandchild's leaf record, then exits.
func launcher(id string) {
	wait(start("middle", id+"-m"))
	waitFile(filepath.Join(os.Getenv(dirEnv), "done-"+id))
}

func grandchild(id string) {
	parent, _, _ := strings.Cut(os.Getenv(parentEnv), ":")
	for deadline := time.Now().Add(10 * time.Second); strconv.Itoa(os.Getppid()) == parent; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			fail("never reparented")
		}
	}
	// The launcher may exit from now on: the chain must name it, and the
	// exited middle process, whether or not they still run.
	launcherID := strings.TrimSuffix(strings.TrimSuffix(id, "-g"), "-m")
	os.WriteFile(filepath.Join(os.Getenv(dirEnv), "done-"+launcherID), nil, 0o644)
	self, _ := os.Executable()
	err := syscall.Exec(self, []string{self, "leaf", id + "-x"}, os.Environ())
	fail("exec: %v", err)
}

// churn runs "forker" or "quitter" children one after another: args are
// the role, the count, and with "quitter" nothing else; each iteration
// gets its own id.
func churn(id string, args []string) {
	if len(args) != 2 {
		fail("churn ROLE COUNT")
	}
	n, _ := strconv.Atoi(args[1])
	for i := range n {
		wait(start(args[0], fmt.Sprintf("%s.%d", id, i)))
	}
}
