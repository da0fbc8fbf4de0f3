package e2e

// Ground truth for process ancestry: every process the test starts is a
// truthproc (e2e/truthproc) that records, when it starts, who it is and who
// forked it, read from /proc and from its parent; the test then checks
// every process_events row those processes produced against the records.
// A row is exact (complete, and every element right), incomplete (marked
// so, and every element it has right), or wrong. No row may be wrong, none
// may be missing, and where the truth is knowable every row must be exact.
//
// bench/ancestry_truth.sh runs the same scenarios at several cache sizes
// and scales (GOSQ_TRUTH_CACHE_SIZES, GOSQ_TRUTH_SCALE) and records the
// share of exact chains.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosquery/gosquery/e2e/truthrec"
	"github.com/gosquery/gosquery/internal/procconn"
	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/testenv"
)

// truthRecord is what a truthproc wrote, with the order of the records
// of one process.
type truthRecord struct {
	truthrec.Record
	seq int
}

type procID struct {
	pid   int
	start uint64
}

// truthRun is one run of the scenarios: a record directory and a token
// that every truthproc argument carries.
type truthRun struct {
	t     *testing.T
	dir   string
	token string
	bin   string
	btime int64
}

func newTruthRun(t *testing.T) *truthRun {
	t.Helper()
	boot, err := procfs.New("/proc").BootTime()
	if err != nil {
		t.Fatal(err)
	}
	return &truthRun{t: t, dir: t.TempDir(), token: fmt.Sprintf("gosqtruth%d", time.Now().UnixNano()),
		bin: filepath.Join(binDir, "truthproc"), btime: boot.Unix()}
}

func (r *truthRun) id(scenario string, n int) string {
	return fmt.Sprintf("%s-%s-%d", r.token, scenario, n)
}

// command returns a truthproc command in the run's record directory.
func (r *truthRun) command(args ...string) *exec.Cmd {
	cmd := exec.Command(r.bin, args...)
	cmd.Env = append(os.Environ(), "GOSQ_TRUTH_DIR="+r.dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd
}

func (r *truthRun) run(args ...string) {
	r.t.Helper()
	if err := r.command(args...).Run(); err != nil {
		r.t.Fatalf("truthproc %v: %v", args, err)
	}
}

// records reads every record written so far.
func (r *truthRun) records() []truthRecord {
	r.t.Helper()
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []truthRecord
	for _, e := range ents {
		parts := strings.Split(e.Name(), ".")
		if len(parts) != 3 {
			continue // a signal file
		}
		b, err := os.ReadFile(filepath.Join(r.dir, e.Name()))
		if err != nil || len(b) == 0 || b[len(b)-1] != '\n' {
			continue // being written
		}
		var rec truthRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			r.t.Fatalf("record %s: %v", e.Name(), err)
		}
		rec.seq, _ = strconv.Atoi(parts[2])
		out = append(out, rec)
	}
	return out
}

// count returns how many records of truthproc images have cmdlines
// containing sub.
func (r *truthRun) count(sub string) int {
	n := 0
	for _, rec := range r.records() {
		if !rec.Walked && strings.Contains(rec.Cmdline, sub) {
			n++
		}
	}
	return n
}

func (r *truthRun) waitCount(sub string, want int) {
	r.t.Helper()
	// Starting a thousand processes on two loaded CPUs takes a while.
	d := time.Minute + time.Duration(want)*100*time.Millisecond
	if !testenv.Eventually(d, 20*time.Millisecond, func() bool { return r.count(sub) >= want }) {
		r.t.Fatalf("%d of %d processes of %s recorded", r.count(sub), want, sub)
	}
}

func (r *truthRun) signal(name string) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, name), nil, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// truthRow is the part of a process_events row the check reads.
type truthRow struct {
	PID, Parent, Original string
	Cmdline               string
	Ancestry              string
	Complete              string
}

// verdict is the outcome for one scenario.
type verdict struct {
	rows, exact, incomplete, wrong, missing int
	examples                                []string
}

func (v verdict) String() string {
	share := 0.0
	if v.rows > 0 {
		share = 100 * float64(v.exact) / float64(v.rows)
	}
	return fmt.Sprintf("rows=%d exact=%d (%.2f%%) incomplete=%d wrong=%d missing=%d", v.rows, v.exact, share, v.incomplete, v.wrong, v.missing)
}

// expected builds the chain the records say the process p has: its
// parent, that one's parent, up to pid 1. Each ancestor is its latest
// image, and the chain stops (ok false) where no record names a parent.
func (r *truthRun) expected(byID map[procID]truthRecord, p truthRecord) ([]chainElem, bool) {
	var out []chainElem
	cur := p
	for cur.PPID > 0 {
		parent, ok := byID[procID{cur.PPID, cur.PStart}]
		if !ok {
			return out, false
		}
		e := chainElem{PID: int64(parent.PID), PPID: int64(parent.PPID), Path: parent.Exe, Cmdline: parent.Cmdline,
			ProcTimeHR: r.btime*100 + int64(parent.Start)}
		e.ProcTime = e.ProcTimeHR / 100
		if parent.PPID > 0 {
			e.PProcTimeHR = r.btime*100 + int64(parent.PStart)
		}
		e.ExeName = filepath.Base(parent.Exe)
		if parent.Exe == "" {
			e.ExeName = parent.Comm
		}
		out = append(out, e)
		cur = parent
		if len(out) > 64 {
			return out, false
		}
	}
	return out, true
}

// check compares the rows of a scenario (cmdline containing sub) with the
// records. It waits until every recorded exec has its row.
func (r *truthRun) check(s *eventShell, sub string) verdict {
	r.t.Helper()
	recs := r.records()
	want := 0
	for _, rec := range recs {
		if !rec.Walked && strings.Contains(rec.Cmdline, sub) {
			want++
		}
	}
	sql := fmt.Sprintf("select pid, parent, original_parent, cmdline, ancestry, ancestry_complete from process_events where cmdline like '%%%s%%'", sub)
	var rows []map[string]string
	testenv.Eventually(30*time.Second, 200*time.Millisecond, func() bool {
		rows = s.query(sql)
		return len(rows) >= want
	})
	return r.judge(recs, rows, sub)
}

// judge classifies the rows against the records.
func (r *truthRun) judge(recs []truthRecord, rows []map[string]string, sub string) verdict {
	byID := map[procID]truthRecord{}
	byImage := map[string]truthRecord{}
	for _, rec := range recs {
		id := procID{rec.PID, rec.Start}
		if old, ok := byID[id]; !ok || old.Walked || !rec.Walked && rec.seq > old.seq {
			byID[id] = rec
		}
		if !rec.Walked && strings.Contains(rec.Cmdline, sub) {
			byImage[fmt.Sprintf("%d %s", rec.PID, rec.Cmdline)] = rec
		}
	}
	v := verdict{}
	seen := map[string]bool{}
	// Wrong rows are shown first: they are what a failure is about.
	var wrongNotes, otherNotes []string
	var pendingNote []string
	note := func(format string, args ...any) { pendingNote = append(pendingNote, fmt.Sprintf(format, args...)) }
	flush := func(wrong bool) {
		if wrong {
			wrongNotes = append(wrongNotes, pendingNote...)
		} else {
			otherNotes = append(otherNotes, pendingNote...)
		}
		pendingNote = nil
	}
	for _, row := range rows {
		key := row["pid"] + " " + row["cmdline"]
		rec, ok := byImage[key]
		if !ok || seen[key] {
			continue // not one of ours (a shell's own exec, say)
		}
		seen[key] = true
		v.rows++
		var got []chainElem
		if err := json.Unmarshal([]byte(row["ancestry"]), &got); err != nil {
			v.wrong++
			note("%s: invalid JSON: %v", key, err)
			flush(true)
			continue
		}
		exp, known := r.expected(byID, rec)
		prefixOK := len(got) <= len(exp)
		for i := 0; prefixOK && i < len(got); i++ {
			if got[i] != exp[i] {
				prefixOK = false
				note("%s: element %d\n   got %+v\n  want %+v", key, i, got[i], exp[i])
			}
		}
		if !prefixOK && len(got) > len(exp) {
			note("%s: %d elements, truth has %d", key, len(got), len(exp))
		}
		if row["original_parent"] != "" && row["original_parent"] != strconv.Itoa(rec.PPID) {
			prefixOK = false
			note("%s: original_parent %s, forked by %d", key, row["original_parent"], rec.PPID)
		}
		switch complete := row["ancestry_complete"] == "1"; {
		case !prefixOK:
			v.wrong++
			flush(true)
		case complete && known && len(got) == len(exp):
			v.exact++
			flush(false)
		case complete:
			v.wrong++
			note("%s: complete with %d elements, truth has %d (known %v)", key, len(got), len(exp), known)
			flush(true)
		default:
			v.incomplete++
			note("%s: incomplete after %d of %d elements", key, len(got), len(exp))
			flush(false)
		}
	}
	for key := range byImage {
		if !seen[key] {
			v.missing++
			note("no row for %s", key)
			flush(true)
		}
	}
	v.examples = append(wrongNotes, otherNotes...)
	if len(v.examples) > 8 {
		v.examples = v.examples[:8]
	}
	return v
}

// report logs a scenario's verdict in the form bench/ancestry_truth.sh
// collects. It fails on any wrong or missing row. Incomplete rows are what
// the rules allow when a source falls behind (the exec of a process whose
// fork the cache had not seen yet, on a starved machine); more than one in
// a hundred means something else is broken.
func (r *truthRun) report(scenario string, cache int, v verdict) {
	r.t.Helper()
	r.t.Logf("truth: scenario=%s cache=%d %s", scenario, cache, v)
	for _, e := range v.examples {
		r.t.Log("  " + e)
	}
	if v.wrong > 0 || v.missing > 0 || v.rows == 0 || v.incomplete*100 > v.rows {
		r.t.Errorf("%s at cache size %d: %s", scenario, cache, v)
	}
}

// truthScale multiplies the scenarios' sizes (bench/ancestry_truth.sh).
func truthScale() int {
	if n, err := strconv.Atoi(os.Getenv("GOSQ_TRUTH_SCALE")); err == nil && n > 0 {
		return n
	}
	return 1
}

// truthCacheSizes are the process_ancestry_cache_size values to run at.
func truthCacheSizes() []int {
	var out []int
	for _, f := range strings.Fields(os.Getenv("GOSQ_TRUTH_CACHE_SIZES")) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		out = []int{50}
	}
	return out
}

func requireTruthFeatures(t *testing.T) {
	t.Helper()
	testenv.Root(t, "process_events needs audit")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Without fork and exit events a chain through an exited parent is
	// unknowable; these tests are about getting it right when it is not.
	testenv.Need(t, "the proc connector", procconn.Probe(ctx))
}

// TestAncestryTruth runs the scenarios the ancestry must get right under
// pressure, each against ground truth, at a cache far smaller than the
// number of processes: a tree of live holders whose leaves exec, parents
// that exit right after their child's exec, double-forking daemons, and
// shells that fork without exec.
func TestAncestryTruth(t *testing.T) {
	requireTruthFeatures(t)
	for _, size := range truthCacheSizes() {
		t.Run(fmt.Sprintf("cache=%d", size), func(t *testing.T) {
			s := startEventShell(t, "--process_ancestry_cache_size="+strconv.Itoa(size))
			r := newTruthRun(t)
			scale := truthScale()
			// The test's own ancestors, up to pid 1, as /proc has them.
			walk := r.command("leaf", r.id("setup", 0))
			walk.Env = append(walk.Env, "GOSQ_TRUTH_WALK=0")
			if err := walk.Run(); err != nil {
				t.Fatal(err)
			}

			// 1. A tree of live holders: 8 x 8 x (7 x scale) under a root,
			// 521 processes at scale 1; the 448 leaves exec when told.
			tree := r.id("tree", 0)
			fan := fmt.Sprintf("8,8,%d", 7*scale)
			root := r.command("holder", tree, fan)
			if err := root.Start(); err != nil {
				t.Fatal(err)
			}
			// Whatever happens, the holders are told to finish.
			t.Cleanup(func() {
				for _, f := range []string{"go", "stop"} {
					os.WriteFile(filepath.Join(r.dir, f), nil, 0o644)
				}
				root.Wait()
			})
			holders := 1 + 8 + 64 + 64*7*scale
			r.waitCount(tree, holders)
			r.signal("go")
			r.waitCount(tree+".", holders-1+64*7*scale)
			incomplete := 0
			vt := r.check(s, tree)
			incomplete += vt.incomplete
			r.report("live_tree", size, vt)
			r.signal("stop")

			// 2. Parents that exit as soon as their child has exec'd.
			var wg sync.WaitGroup
			for i := range 3 {
				wg.Go(func() { r.run("churn", r.id("quit", i), "quitter", strconv.Itoa(150*scale)) })
			}
			wg.Wait()
			r.waitCount(r.token+"-quit-", 3+3*2*150*scale) // the last leaves may still be starting
			vq := r.check(s, r.token+"-quit-")
			incomplete += vq.incomplete
			r.report("parent_exits", size, vq)

			// 3. Double forks: launcher -> middle (setsid, exits) ->
			// grandchild, reparented, execs.
			for i := range 10 * scale {
				r.run("launcher", r.id("dfork", i))
			}
			// launcher, middle, grandchild, and the grandchild's exec.
			r.waitCount(r.token+"-dfork-", 4*10*scale)
			vd := r.check(s, r.token+"-dfork-")
			incomplete += vd.incomplete
			r.report("double_fork", size, vd)

			// 4. Shells that fork without exec: a subshell's child, and a
			// chain of shells.
			for i := range 10 * scale {
				sh := exec.Command("sh", "-c", fmt.Sprintf(`(%s leaf %s); :`, r.bin, r.id("subshell", i)))
				sh.Env = append(os.Environ(), "GOSQ_TRUTH_DIR="+r.dir, "GOSQ_TRUTH_WALK="+strconv.Itoa(os.Getpid()))
				if out, err := sh.CombinedOutput(); err != nil {
					t.Fatalf("subshell: %v %s", err, out)
				}
				b := exec.Command("bash", "-c", fmt.Sprintf(`sh -c '%s leaf %s; :'; :`, r.bin, r.id("shells", i)))
				b.Env = sh.Env
				if out, err := b.CombinedOutput(); err != nil {
					t.Fatalf("shells: %v %s", err, out)
				}
			}
			vs := r.check(s, r.token+"-s")
			incomplete += vs.incomplete
			r.report("shells", size, vs)

			st := s.query("select * from process_ancestry_cache_stats")[0]
			t.Logf("cache stats: size=%s peak=%s pinned=%s evictions=%s misses=%s hits=%s cut_by_eviction=%s parent_gone=%s unknown=%s catch_up_failures=%s implied_exits=%s advice=%q",
				st["cache_size"], st["cache_peak"], st["pinned_nodes"], st["evictions"], st["cache_misses"], st["cache_hits"],
				st["chains_cut_by_eviction"], st["chains_parent_gone"], st["chains_unknown_process"], st["catch_up_failures"], st["implied_exits"], st["advice"])
			// Every incomplete row is counted in the stats, by why it stopped.
			counted := 0
			for _, k := range []string{"chains_cut_by_eviction", "chains_parent_gone", "chains_unknown_process", "chains_ambiguous"} {
				n, _ := strconv.Atoi(st[k])
				counted += n
			}
			if incomplete > counted {
				t.Errorf("%d incomplete rows, but the stats count %d incomplete chains", incomplete, counted)
			}
			if size < 500 && !strings.Contains(st["advice"], "cache too small") {
				t.Errorf("a cache of %d for hundreds of processes, yet the advice is %q", size, st["advice"])
			}
			if a := s.query("select lost_total from audit_status"); a[0]["lost_total"] != "0" {
				t.Errorf("audit lost events during the test: %v", a)
			}
		})
	}
}

// TestAncestryTruthPidReuse recycles pids fast: with kernel.pid_max
// lowered to 2000, parallel churners fork a parent that forks a child,
// thousands of times, so pids wrap around while the events of their
// earlier owners are still in the cache. A recycled pid must never get
// its predecessor's chain, image or start time.
func TestAncestryTruthPidReuse(t *testing.T) {
	requireTruthFeatures(t)
	for _, size := range truthCacheSizes() {
		t.Run(fmt.Sprintf("cache=%d", size), func(t *testing.T) {
			// The pid lock before the audit lock (testenv/pids.go).
			testenv.LowerPidMax(t, 2000)
			s := startEventShell(t, "--process_ancestry_cache_size="+strconv.Itoa(size))
			r := newTruthRun(t)
			walk := r.command("leaf", r.id("setup", 0))
			walk.Env = append(walk.Env, "GOSQ_TRUTH_WALK=0")
			if err := walk.Run(); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			n := 600 * truthScale()
			for i := range 3 {
				wg.Go(func() { r.run("churn", r.id("reuse", i), "forker", strconv.Itoa(n)) })
			}
			wg.Wait()
			v := r.check(s, r.token+"-reuse-")
			recycled := recycledPIDs(r.records())
			t.Logf("pids recycled: %d of %d processes had a pid used before in this run", recycled, v.rows)
			st := s.query("select * from process_ancestry_cache_stats")[0]
			t.Logf("cache stats: parent_gone=%s unknown=%s ambiguous=%s start_unknown=%s late_forks=%s catch_up_failures=%s implied_exits=%s start_corrected=%s start_estimated=%s",
				st["chains_parent_gone"], st["chains_unknown_process"], st["chains_ambiguous"], st["start_unknown"], st["late_forks"],
				st["catch_up_failures"], st["implied_exits"], st["start_corrected"], st["start_estimated"])
			if recycled == 0 {
				t.Error("no pid was recycled: the test proves nothing")
			}
			r.report("pid_reuse", size, v)
		})
	}
}

// recycledPIDs counts processes whose pid an earlier one of the run had.
func recycledPIDs(recs []truthRecord) int {
	starts := map[int]map[uint64]bool{}
	for _, rec := range recs {
		if starts[rec.PID] == nil {
			starts[rec.PID] = map[uint64]bool{}
		}
		starts[rec.PID][rec.Start] = true
	}
	n := 0
	for _, s := range starts {
		n += len(s) - 1
	}
	return n
}

// The checker can fail: an exact row passes, a row with a wrong element
// or one that claims completeness too early is wrong, a row marked
// incomplete with correct elements is incomplete, and a process without a
// row is missing.
func TestTruthCheckerCanFail(t *testing.T) {
	r := &truthRun{t: t, btime: 1000}
	recs := []truthRecord{
		{Record: truthrec.Record{PID: 1, Start: 1, Exe: "", Comm: "init", Cmdline: "/sbin/init", Walked: true}},
		{Record: truthrec.Record{PID: 10, Start: 5, PPID: 1, PStart: 1, Exe: "/bin/sh", Cmdline: "sh -c x", Walked: true}},
		{Record: truthrec.Record{PID: 11, Start: 7, PPID: 10, PStart: 5, Exe: "/bin/leaf", Cmdline: "leaf t-1"}},
		{Record: truthrec.Record{PID: 12, Start: 8, PPID: 10, PStart: 5, Exe: "/bin/leaf", Cmdline: "leaf t-2"}},
	}
	sh := `{"exe_name":"sh","pid":10,"ppid":1,"pproc_time_hr":100001,"path":"/bin/sh","cmdline":"sh -c x","proc_time":1000,"proc_time_hr":100005}`
	initEl := `{"exe_name":"init","pid":1,"ppid":0,"pproc_time_hr":0,"path":"","cmdline":"/sbin/init","proc_time":1000,"proc_time_hr":100001}`
	row := func(pid, cmd, anc, complete string) map[string]string {
		return map[string]string{"pid": pid, "cmdline": cmd, "ancestry": anc, "ancestry_complete": complete, "original_parent": "10"}
	}
	for _, tc := range []struct {
		name string
		rows []map[string]string
		want verdict
	}{
		{"exact", []map[string]string{row("11", "leaf t-1", "["+sh+","+initEl+"]", "1"), row("12", "leaf t-2", "["+sh+","+initEl+"]", "1")}, verdict{rows: 2, exact: 2}},
		{"incomplete", []map[string]string{row("11", "leaf t-1", "["+sh+"]", "0"), row("12", "leaf t-2", "[]", "0")}, verdict{rows: 2, incomplete: 2}},
		{"complete too early", []map[string]string{row("11", "leaf t-1", "["+sh+"]", "1"), row("12", "leaf t-2", "["+sh+","+initEl+"]", "1")}, verdict{rows: 2, exact: 1, wrong: 1}},
		{"wrong element", []map[string]string{row("11", "leaf t-1", "["+strings.Replace(sh, "100005", "100006", 1)+","+initEl+"]", "1"), row("12", "leaf t-2", "["+sh+","+initEl+"]", "0")}, verdict{rows: 2, incomplete: 1, wrong: 1}},
		{"missing", []map[string]string{row("11", "leaf t-1", "["+sh+","+initEl+"]", "1")}, verdict{rows: 1, exact: 1, missing: 1}},
	} {
		got := r.judge(recs, tc.rows, "leaf t-")
		if got.String() != tc.want.String() {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
