package ancestry

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/testenv"
)

var hostProc = procfs.New("/proc")

func liveCache(capacity int) *Cache {
	return New(Config{Capacity: capacity, TTL: time.Minute, MaxDepth: 32, Proc: hostProc})
}

// childOf waits for a process whose parent is ppid and whose comm is comm.
func childOf(t *testing.T, ppid int, comm string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		pids, _ := hostProc.PIDs()
		for _, p := range pids {
			if st, err := hostProc.Stat(p); err == nil && st.PPID == ppid && st.Comm == comm {
				return p
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s child of %d", comm, ppid)
	return 0
}

func start(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func killTree(pids ...int) {
	for _, p := range pids {
		if proc, err := os.FindProcess(p); err == nil {
			proc.Kill()
		}
	}
}

// checkAgainstProc verifies every element of a chain against /proc: pid,
// ppid, path, cmdline and both start times, and that each pproc_time_hr is
// the next element's proc_time_hr.
func checkAgainstProc(t *testing.T, es []element) {
	t.Helper()
	boot, err := hostProc.BootTime()
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range es {
		st, err := hostProc.Stat(int(e.PID))
		if err != nil {
			t.Fatalf("element %d: pid %d not in /proc", i, e.PID)
		}
		if int64(st.PPID) != e.PPID {
			t.Errorf("element %d (pid %d): ppid %d, /proc says %d", i, e.PID, e.PPID, st.PPID)
		}
		hr := boot.Unix()*100 + int64(st.StartTime)
		if e.ProcTimeHR != hr || e.ProcTime != hr/100 {
			t.Errorf("element %d (pid %d): proc_time_hr %d, /proc says %d", i, e.PID, e.ProcTimeHR, hr)
		}
		if link, err := hostProc.Exe(int(e.PID)); err == nil && strings.TrimSuffix(link, " (deleted)") != e.Path {
			t.Errorf("element %d (pid %d): path %q, /proc says %q", i, e.PID, e.Path, link)
		}
		if b, err := hostProc.Cmdline(int(e.PID)); err == nil && procfs.JoinCmdline(b) != e.Cmdline {
			t.Errorf("element %d (pid %d): cmdline %q, /proc says %q", i, e.PID, e.Cmdline, procfs.JoinCmdline(b))
		}
		if i+1 < len(es) && e.PProcTimeHR != es[i+1].ProcTimeHR {
			t.Errorf("element %d: pproc_time_hr %d, parent's proc_time_hr %d", i, e.PProcTimeHR, es[i+1].ProcTimeHR)
		}
	}
	if last := es[len(es)-1]; last.PID != 1 || last.PPID != 0 {
		t.Errorf("chain does not end at pid 1: %+v", last)
	}
}

func TestLiveKnownTree(t *testing.T) {
	// bash -> sh -> sh -> sleep, with trailing ':' so no shell execs its
	// last command away.
	bash := start(t, "bash", "-c", `sh -c 'sh -c "sleep 30; :"; :'; :`)
	sh1 := childOf(t, bash.Process.Pid, "sh")
	sh2 := childOf(t, sh1, "sh")
	sleep := childOf(t, sh2, "sleep")
	defer killTree(sleep, sh2, sh1)

	for _, scan := range []bool{true, false} {
		c := liveCache(1000)
		if scan {
			if err := c.Scan(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		p, ok := c.Live(int32(sleep))
		if !ok {
			t.Fatal("sleep not found")
		}
		ch := c.Ancestry(p.Key)
		es := decode(t, ch.JSON)
		want := []int64{int64(sh2), int64(sh1), int64(bash.Process.Pid), int64(os.Getpid())}
		if len(es) < 5 || fmt.Sprint(pids(es)[:4]) != fmt.Sprint(want) {
			t.Fatalf("scan=%v: chain pids %v, want prefix %v", scan, pids(es), want)
		}
		if !ch.Complete {
			t.Errorf("scan=%v: chain not complete", scan)
		}
		checkAgainstProc(t, es)
		if es[0].ExeName != "dash" && es[0].ExeName != "sh" && es[0].ExeName != "bash" {
			t.Errorf("exe_name %q", es[0].ExeName)
		}
		s := c.Stats()
		if scan && (s.Misses != 0 || s.Hits != uint64(len(es))) {
			t.Errorf("after a scan every ancestor should hit: %+v", s)
		}
		if !scan && s.Misses != uint64(len(es)) {
			t.Errorf("without a scan every ancestor is a miss: %+v", s)
		}
	}
}

func TestLiveParentExitsBeforeLookup(t *testing.T) {
	// sh starts a long sleep, prints its pid and waits on stdin; closing
	// stdin lets sh exit, and the sleep is reparented.
	cmd := exec.Command("sh", "-c", `sleep 30 & echo $!; read x; :`)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(line))
	defer killTree(child)
	shPid := cmd.Process.Pid

	c := liveCache(1000)
	if err := c.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	cmd.Wait()
	c.Exit(int32(shPid), 0)
	st, err := hostProc.Stat(child)
	if err != nil {
		t.Fatal(err)
	}
	if st.PPID == shPid {
		t.Fatal("child was not reparented; the test proves nothing")
	}
	p, ok := c.Live(int32(child))
	if !ok || p.OriginalPPID != int32(shPid) || p.PPID != int32(st.PPID) {
		t.Fatalf("child's parents: original %d, now %d (reaper is %d), want the real parent %d", p.OriginalPPID, p.PPID, st.PPID, shPid)
	}
	es := decode(t, c.Ancestry(p.Key).JSON)
	if len(es) < 2 || es[0].PID != int64(shPid) || es[1].PID != int64(os.Getpid()) {
		t.Fatalf("chain %v, want [%d %d ...]", pids(es), shPid, os.Getpid())
	}
	if !strings.HasPrefix(es[0].Cmdline, "sh -c sleep 30 & echo $!") {
		t.Fatalf("exited parent's cmdline %q", es[0].Cmdline)
	}
}

func TestLiveHostileArguments(t *testing.T) {
	huge := strings.Repeat("x", 100<<10)
	args := []string{"-c", "sleep 30; :", `quo"te`, `back\slash`, "new\nline", "\xff\xfe", huge}
	sh := start(t, "sh", args...)
	sleep := childOf(t, sh.Process.Pid, "sleep")
	defer killTree(sleep)
	c := liveCache(1000)
	p, _ := c.Live(int32(sleep))
	js := c.Ancestry(p.Key).JSON
	var es []element
	if err := json.Unmarshal(js, &es); err != nil {
		t.Fatalf("invalid JSON: %v", err)
	}
	want := "sh " + strings.Join(args, " ")
	want = strings.Replace(want, "\xff\xfe", "\ufffd\ufffd", 1)
	if es[0].Cmdline != want {
		t.Fatalf("cmdline round trip: got %d bytes, want %d", len(es[0].Cmdline), len(want))
	}
	// SQLite's JSON functions read it too.
	db, err := sqlengine.Open(table.HostEnv(flags.Standard(), table.NewRegistry(), nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lit := "'" + strings.ReplaceAll(string(js), "'", "''") + "'"
	res, err := db.Query(context.Background(), "select json_valid("+lit+"), json_extract("+lit+", '$[0].pid'), length(json_extract("+lit+", '$[0].cmdline'))")
	if err != nil {
		t.Fatal(err)
	}
	if row := res.Rows[0]; row[0].Int != 1 || row[1].Int != int64(sh.Process.Pid) || row[2].Int != int64(len([]rune(want))) {
		t.Fatalf("json_extract: %v", row)
	}
}

// TestMain holds the pid lock shared: the live tests find their children
// by pid.
func TestMain(m *testing.M) {
	release := testenv.SharePIDs()
	code := m.Run()
	release()
	os.Exit(code)
}
