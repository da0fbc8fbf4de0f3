package distributed

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/remote/remotetest"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/store"
	"github.com/gosquery/gosquery/internal/table"
)

func TestReadRunWrite(t *testing.T) {
	f := newFixture(t, "--distributed_loginfo=true")
	pid := os.Getpid()
	f.answers(fmt.Sprintf(`{"queries":{
		"q1": "select 1 as b, 2 as a, 'x\"<y>\\\n' as c, null as n, 1.5 as f, 3.0 as g, x'41' as blob",
		"q2": "select version from osquery_info",
		"42": "select pid, parent from processes where pid = %d",
		"probe": "select request_id from distributed_probe",
		"empty": "select 1 as x where 0"
	}}`, pid))
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	w := f.lastWrite()
	if w.nodeKey != "this_is_a_node_secret" {
		t.Errorf("node_key %q", w.nodeKey)
	}
	slices.Sort(w.keys)
	if !slices.Equal(w.keys, []string{"messages", "node_key", "queries", "stats", "statuses"}) {
		t.Errorf("top-level keys %v", w.keys)
	}
	if got := rowString(w.queries["q1"]); got != `{b=1,a=2,c=x"<y>\`+"\n"+`,n=,f=1.5,g=3.0,blob=A}` {
		t.Errorf("q1 rows %s", got)
	}
	if got := w.queries["42"]; len(got) != 1 || got[0][0] != (pair{"pid", strconv.Itoa(pid)}) || got[0][1].K != "parent" {
		t.Errorf("processes rows %v", got)
	}
	if got := rowString(w.queries["q2"]); !strings.HasPrefix(got, "{version=") {
		t.Errorf("osquery_info rows %s", got)
	}
	// The ctx given to the engine reaches the generators, marked with the
	// query's id: what a carve started by a query records as request_id.
	if got := rowString(w.queries["probe"]); got != "{request_id=probe}" {
		t.Errorf("probe rows %s", got)
	}
	if rows, ok := w.queries["empty"]; !ok || len(rows) != 0 {
		t.Errorf("empty result %v %v", rows, ok)
	}
	for _, id := range []string{"q1", "q2", "42", "probe", "empty"} {
		if w.statuses[id] != "0" || w.messages[id] != "" {
			t.Errorf("%s: status %q message %q", id, w.statuses[id], w.messages[id])
		}
		st := w.stats[id]
		for _, k := range []string{"wall_time_ms", "user_time", "system_time", "memory"} {
			if _, err := st[k].Int64(); err != nil {
				t.Errorf("%s stats %s = %q", id, k, st[k])
			}
		}
	}
	if !hasLine(f.logs.take(), "INFO", "Executing distributed query: q1: select 1 as b") {
		t.Error("--distributed_loginfo did not log the query")
	}
	// Nothing is left behind: queue, running markers, stored results.
	if k := f.keys(store.DomainDistributed, ""); len(k) != 0 {
		t.Errorf("distributed domain keeps %q", k)
	}
	if k := f.keys(store.DomainDistributedRunning, ""); len(k) != 0 {
		t.Errorf("running markers left: %q", k)
	}
	s := f.r.Stats()
	if s.Reads != 1 || s.QueriesRead != 5 || s.Executed != 5 || s.Writes != 1 || s.PendingResults != 0 || s.LastError != "" {
		t.Errorf("stats %+v", s)
	}
	// The next iteration has nothing to write.
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.writes()); n != 1 {
		t.Errorf("%d writes, want 1", n)
	}
}

func TestQueryShapes(t *testing.T) {
	f := newFixture(t, "--nullvalue=NULL")
	f.answers(`{"queries":{
		"dup": "select 1 as a, 2 as a, 3 as b",
		"multi": "select 1 as first; select 2 as second",
		"hostile": "select char(1) || '\"' || '</script>' as c, x'ff00fe' as bin, 'é' as u, null as n, 1e20 as big, -0.5 as neg",
		"comment": "-- nothing"
	}}`)
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	w := f.lastWrite()
	if got := rowString(w.queries["dup"]); got != "{a=2,b=3}" {
		t.Errorf("duplicate names %s", got)
	}
	if got := rowString(w.queries["multi"]); got != "{second=2}" {
		t.Errorf("multiple statements %s", got)
	}
	if got := rowString(w.queries["hostile"]); got != "{c=\x01\"</script>,bin=\uFFFD\x00\uFFFD,u=é,n=NULL,big=1e+20.0,neg=-0.5}" {
		t.Errorf("hostile values %q", got)
	}
	if rows := w.queries["comment"]; rows == nil || len(rows) != 0 || w.statuses["comment"] != "0" {
		t.Errorf("comment-only query %v %v", rows, w.statuses["comment"])
	}
}

func TestQueryError(t *testing.T) {
	f := newFixture(t)
	f.answers(`{"queries":{"bad":"select * from no_such_table","syntax":"selec 1","good":"select 1 as x"}}`)
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	w := f.lastWrite()
	if w.statuses["bad"] == "0" || w.messages["bad"] != "no such table: no_such_table" || len(w.queries["bad"]) != 0 {
		t.Errorf("bad: status %s message %q rows %v", w.statuses["bad"], w.messages["bad"], w.queries["bad"])
	}
	if w.statuses["syntax"] == "0" || !strings.Contains(w.messages["syntax"], "syntax error") {
		t.Errorf("syntax: status %s message %q", w.statuses["syntax"], w.messages["syntax"])
	}
	if w.statuses["good"] != "0" || rowString(w.queries["good"]) != "{x=1}" {
		t.Errorf("good query %v", w.queries["good"])
	}
	if !hasLine(f.logs.take(), "ERROR", "Error executing distributed query: bad: no such table") {
		t.Error("no error logged")
	}
	if s := f.r.Stats(); s.Errors != 2 || s.Executed != 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestDiscoveryGating(t *testing.T) {
	f := newFixture(t)
	f.answers(`{
		"discovery": {"yes": "select pid from processes", "no": "select 1 where 0"},
		"queries": {"yes": "select 'y' as v", "no": "select 'n' as v", "free": "select 'f' as v"}
	}`)
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	w := f.lastWrite()
	if _, ok := w.queries["no"]; ok {
		t.Error("query ran though its discovery returned nothing")
	}
	if rowString(w.queries["yes"]) != "{v=y}" || rowString(w.queries["free"]) != "{v=f}" {
		t.Errorf("queries %v", w.queries)
	}
	if s := f.r.Stats(); s.DiscoverySkipped != 1 || s.QueriesRead != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestDiscoveryErrorRejectsAll(t *testing.T) {
	f := newFixture(t)
	f.answers(`{
		"discovery": {"a": "select 1", "b": "select * from nope"},
		"queries": {"a": "select 1 as x", "b": "select 2 as x", "c": "select 3 as x"},
		"accelerate": 60
	}`)
	f.once()
	if n := len(f.writes()); n != 0 {
		t.Errorf("%d writes after a rejected answer", n)
	}
	if q := f.queued(); len(q) != 0 {
		t.Errorf("queued %v", q)
	}
	if !hasLine(f.logs.take(), "WARN", "discovery query \"b\" has an SQL error") {
		t.Error("no warning for the discovery error")
	}
	if s := f.r.Stats(); s.Rejected != 1 || s.QueriesRead != 0 {
		t.Errorf("stats %+v", s)
	}
	if d := f.r.Interval(context.Background()); d != 7*time.Second {
		t.Errorf("a rejected answer accelerated: %v", d)
	}
}

func TestAccelerateSwitchesInterval(t *testing.T) {
	f := newFixture(t)
	f.sleeps = make(chan time.Duration)
	f.answers(`{"queries":{},"accelerate":120}`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.r.Run(ctx) }()
	next := func() time.Duration {
		t.Helper()
		select {
		case d := <-f.sleeps:
			return d
		case <-time.After(10 * time.Second):
			t.Fatal("the loop did not wait")
		}
		return 0
	}
	if d := next(); d != AcceleratedInterval {
		t.Fatalf("wait after accelerate: %v, want 5s", d)
	}
	// Still within the 120 s.
	f.now.Add(100)
	if d := next(); d != AcceleratedInterval {
		t.Fatalf("wait within the acceleration: %v", d)
	}
	// Past it: back to --distributed_interval, read afresh each time.
	f.now.Add(30)
	if d := next(); d != 7*time.Second {
		t.Fatalf("wait after the acceleration: %v, want 7s", d)
	}
	f.fl.Set("distributed_interval", "11")
	if d := next(); d != 11*time.Second {
		t.Fatalf("wait after changing the flag: %v, want 11s", d)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	b, ok, _ := f.st.Get(context.Background(), store.DomainConfigurations, AccelerateKey)
	if !ok || string(b) != "1700000120" {
		t.Errorf("stored expiry %q %v", b, ok)
	}
	if n := len(f.srv.Requests(remotetest.DistributedReadPath)); n < 4 {
		t.Errorf("%d reads", n)
	}
}

func TestRunStopsPromptly(t *testing.T) {
	f := newFixture(t, "--distributed_interval=600")
	f.r.o.Sleep = remote.SleepContext // real waits
	f.answers(`{"queries":{"a":"select 1 as x"}}`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.r.Run(ctx) }()
	if _, ok := f.srv.Wait(remotetest.DistributedWritePath, 10*time.Second, func(r []remotetest.Recorded) bool { return len(r) > 0 }); !ok {
		t.Fatal("no write")
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil || time.Since(start) > 2*time.Second {
			t.Fatalf("Run returned %v after %v", err, time.Since(start))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop on ctx")
	}
}

func TestShutdownDuringQueryKeepsItQueued(t *testing.T) {
	f := newFixture(t)
	f.answers(`{"queries":{"slow":"select x from distributed_block"}}`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.r.RunOnce(ctx) }()
	select {
	case <-f.blockStarted:
	case <-time.After(10 * time.Second):
		t.Fatal("query did not start")
	}
	if k := f.keys(store.DomainDistributedRunning, ""); len(k) != 1 || k[0] != hashQuery("select x from distributed_block") {
		t.Errorf("running markers while running: %q", k)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunOnce did not stop")
	}
	if q := f.queued(); !slices.Equal(q, []string{"slow"}) {
		t.Errorf("queue after shutdown %v", q)
	}
	if k := f.keys(store.DomainDistributedRunning, ""); len(k) != 0 {
		t.Errorf("a shutdown left a running marker (would denylist): %q", k)
	}
	if n := len(f.writes()); n != 0 {
		t.Errorf("%d writes", n)
	}
}

func TestHostileReadAnswers(t *testing.T) {
	junk := strings.Repeat("\x00\xff junk {[", 5<<20/10)
	cases := []struct {
		name, body, warn string
		status           int
	}{
		{"not json", `<html>502 Bad Gateway</html>`, "not a JSON object", 200},
		{"5 MB junk", junk, "not a JSON object", 200},
		{"queries a list", `{"queries":["select 1"]}`, `"queries" is not an object`, 200},
		{"queries a string", `{"queries":"select 1"}`, `"queries" is not an object`, 200},
		{"sql a number", `{"queries":{"1":1}}`, `query "1" is not a string`, 200},
		{"sql an object", `{"queries":{"a":{"sql":"select 1"}}}`, `query "a" is not a string`, 200},
		{"empty id", `{"queries":{"":"select 1"}}`, "does not have complete attributes", 200},
		{"empty sql", `{"queries":{"a":""}}`, "does not have complete attributes", 200},
		{"discovery a list", `{"queries":{"a":"select 1"},"discovery":[1]}`, `"discovery" is not an object`, 200},
		{"huge id", `{"queries":{"` + strings.Repeat("i", 1<<20) + `":5}}`, "(1048576 bytes) is not a string", 200},
		{"error", `{"error":"database down"}`, "Request failed: database down", 200},
		{"http 500", ``, "HTTP 500", 500},
		{"an array", `[1,2,3]`, "not a JSON object", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, "--distributed_tls_max_attempts=2")
			f.srv.Handle(remotetest.DistributedReadPath, func(remotetest.Recorded) (int, []byte) { return c.status, []byte(c.body) })
			if err := f.once(); err == nil {
				t.Fatal("no error")
			}
			lines := f.logs.take()
			if !hasLine(lines, "WARN", c.warn) {
				t.Fatalf("no warning with %q in %q", c.warn, lines)
			}
			for _, l := range lines {
				if len(l) > 2000 {
					t.Errorf("log line of %d bytes", len(l))
				}
			}
			if q := f.queued(); len(q) != 0 {
				t.Errorf("queued %v", q)
			}
			if n := len(f.writes()); n != 0 {
				t.Errorf("%d writes", n)
			}
			// The loop carries on with the next answer.
			f.answers(`{"queries":{"ok":"select 'fine' as v"}}`)
			if err := f.once(); err != nil {
				t.Fatal(err)
			}
			if got := rowString(f.lastWrite().queries["ok"]); got != "{v=fine}" {
				t.Errorf("after the hostile answer: %s", got)
			}
		})
	}
}

func TestAccelerateMustBeInteger(t *testing.T) {
	for _, bad := range []string{`"60"`, `60.0`, `6e1`, `true`, `{}`, `4294967296`} {
		f := newFixture(t)
		f.answers(`{"queries":{"a":"select 1 as x"},"accelerate":` + bad + `}`)
		if err := f.once(); err != nil {
			t.Fatal(err)
		}
		if !hasLine(f.logs.take(), "WARN", "timeframe is not an integer") {
			t.Errorf("accelerate %s: no warning", bad)
		}
		if d := f.r.Interval(context.Background()); d != 7*time.Second {
			t.Errorf("accelerate %s accelerated: %v", bad, d)
		}
		// The queries are still taken, as osquery does.
		if rowString(f.lastWrite().queries["a"]) != "{x=1}" {
			t.Errorf("accelerate %s: queries dropped", bad)
		}
	}
}

func TestNodeInvalidReenrolls(t *testing.T) {
	f := newFixture(t)
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	f.invalidate()
	f.answers(`{"queries":{"a":"select 1 as x"}}`)
	// The read's first attempt meets node_invalid; the retry enrolls again.
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.srv.Requests(remotetest.EnrollPath)); n != 2 {
		t.Errorf("%d enrollments", n)
	}
	reads := f.srv.Requests(remotetest.DistributedReadPath)
	if len(reads) != 3 || remotetest.NodeKeyOf(reads[2]) != "this_is_a_node_secret-1" {
		t.Errorf("%d reads", len(reads))
	}
	w := f.lastWrite()
	if rowString(w.queries["a"]) != "{x=1}" || w.nodeKey != "this_is_a_node_secret-1" {
		t.Errorf("write %s with key %q", w.raw, w.nodeKey)
	}
	// With a single attempt, node_invalid is a failed read, and the next
	// iteration re-enrolls.
	f.fl.Set("distributed_tls_max_attempts", "1")
	f.invalidate()
	if err := f.once(); err == nil {
		t.Fatal("node_invalid read did not fail")
	}
	if !hasLine(f.logs.take(), "WARN", "Invalid node key") {
		t.Error("no warning")
	}
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.srv.Requests(remotetest.EnrollPath)); n != 3 {
		t.Errorf("%d enrollments", n)
	}
}

func TestFailedWriteRetriedNextLoop(t *testing.T) {
	f := newFixture(t, "--distributed_tls_max_attempts=1")
	fails := []struct {
		status int
		body   string
	}{{500, `{}`}, {200, `{"error":"busy"}`}, {503, ``}}
	n := 0
	f.srv.Handle(remotetest.DistributedWritePath, func(remotetest.Recorded) (int, []byte) {
		n++
		if n <= len(fails) {
			return fails[n-1].status, []byte(fails[n-1].body)
		}
		return 200, []byte(`{}`)
	})
	f.answers(`{"queries":{"a":"select 1 as x, 'é' as y","bad":"select * from nope"}}`, `{"queries":{"b":"select 2 as z"}}`)
	if err := f.once(); err == nil {
		t.Fatal("failed write not reported")
	}
	if !hasLine(f.logs.take(), "WARN", "Distributed write") {
		t.Error("no warning for the failed write")
	}
	if s := f.r.Stats(); s.WriteFailures != 1 || s.PendingResults != 2 {
		t.Errorf("stats %+v", s)
	}
	// The results, not the queries, are in the store now.
	if q := f.queued(); len(q) != 0 {
		t.Errorf("queued after a failed write: %v", q)
	}
	if k := f.keys(store.DomainDistributed, resultPrefix); len(k) != 4 {
		t.Errorf("stored results %q", k)
	}
	first := f.lastWrite()
	// The next loop sends the same results again, with the new one.
	f.once()
	second := f.lastWrite()
	for _, id := range []string{"a", "bad"} {
		if rowString(first.queries[id]) != rowString(second.queries[id]) || first.statuses[id] != second.statuses[id] ||
			first.messages[id] != second.messages[id] || fmt.Sprint(first.stats[id]) != fmt.Sprint(second.stats[id]) {
			t.Errorf("%s changed between attempts", id)
		}
	}
	if rowString(second.queries["b"]) != "{z=2}" {
		t.Errorf("new result missing: %s", second.raw)
	}
	// A restart in between loses nothing: the results come from the store.
	f.restart()
	if err := f.once(); err == nil {
		t.Fatal("third failure not reported")
	}
	f.restart()
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	last := f.lastWrite()
	for _, id := range []string{"a", "bad", "b"} {
		if rowString(last.queries[id]) != rowString(second.queries[id]) || last.statuses[id] != second.statuses[id] ||
			last.messages[id] != second.messages[id] || fmt.Sprint(last.stats[id]) != fmt.Sprint(second.stats[id]) {
			t.Errorf("%s after restarts: %s, want %s", id, last.raw, second.raw)
		}
	}
	if len(last.queries) != 3 {
		t.Errorf("write holds %d results", len(last.queries))
	}
	if k := f.keys(store.DomainDistributed, ""); len(k) != 0 {
		t.Errorf("written results left in the store: %q", k)
	}
	// Nothing is left to send.
	f.once()
	if got := len(f.writes()); got != 4 {
		t.Errorf("%d writes, want 4", got)
	}
}

func TestPendingResultAnswersRepeatedRead(t *testing.T) {
	f := newFixture(t, "--distributed_tls_max_attempts=1")
	fail := true
	f.srv.Handle(remotetest.DistributedWritePath, func(remotetest.Recorded) (int, []byte) {
		if fail {
			return 500, nil
		}
		return 200, []byte(`{}`)
	})
	// Fleet asks again for a result it has not received.
	f.answers(`{"queries":{"a":"select 1 as x"}}`, `{"queries":{"a":"select 1 as x"}}`)
	f.once()
	fail = false
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	if s := f.r.Stats(); s.Executed != 1 {
		t.Errorf("query ran %d times", s.Executed)
	}
	if got := rowString(f.lastWrite().queries["a"]); got != "{x=1}" {
		t.Errorf("write %s", got)
	}
}

func TestDenylistAfterWorkerDeath(t *testing.T) {
	f := newFixture(t, "--distributed_denylist_duration=3600")
	const sql = "select 'crash' as boom"
	ctx := context.Background()
	start := f.now.Load() - 100
	// What a worker that died running the query leaves: the query still
	// queued and its running marker.
	f.st.Put(ctx, store.DomainDistributed, "dead", []byte(sql))
	f.st.Put(ctx, store.DomainDistributedRunning, hashQuery(sql), []byte(strconv.FormatInt(start, 10)))
	f.restart()
	f.answers(`{"queries":{"again":"` + sql + `","other":"select 1 as x"}}`)
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	w := f.lastWrite()
	for _, id := range []string{"dead", "again"} {
		if w.statuses[id] != "1" || w.messages[id] != DenylistedMessage || len(w.queries[id]) != 0 || len(w.stats[id]) != 0 {
			t.Errorf("%s: status %s message %q rows %v stats %v", id, w.statuses[id], w.messages[id], w.queries[id], w.stats[id])
		}
	}
	if w.statuses["other"] != "0" || rowString(w.queries["other"]) != "{x=1}" {
		t.Errorf("other query %s", w.raw)
	}
	if s := f.r.Stats(); s.Denylisted != 2 {
		t.Errorf("stats %+v", s)
	}
	// The marker stays until it expires.
	if k := f.keys(store.DomainDistributedRunning, ""); !slices.Equal(k, []string{hashQuery(sql)}) {
		t.Errorf("running markers %q", k)
	}
	if q := f.queued(); len(q) != 0 {
		t.Errorf("queue %v", q)
	}
	// At the end of the duration it is still denylisted...
	f.now.Store(start + 3600)
	f.answers(`{"queries":{"edge":"` + sql + `"}}`)
	f.once()
	if w := f.lastWrite(); w.messages["edge"] != DenylistedMessage {
		t.Errorf("denylist ended early: %s", w.raw)
	}
	// ...and one second later it runs again.
	f.now.Store(start + 3601)
	f.answers(`{"queries":{"later":"` + sql + `"}}`)
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	w = f.lastWrite()
	if w.statuses["later"] != "0" || rowString(w.queries["later"]) != "{boom=crash}" {
		t.Errorf("after expiry %s", w.raw)
	}
	if k := f.keys(store.DomainDistributedRunning, ""); len(k) != 0 {
		t.Errorf("running markers after expiry %q", k)
	}
}

func TestExpiredMarkersCleanedUp(t *testing.T) {
	f := newFixture(t, "--distributed_denylist_duration=60")
	ctx := context.Background()
	now := f.now.Load()
	f.st.Put(ctx, store.DomainDistributedRunning, hashQuery("old"), []byte(strconv.FormatInt(now-61, 10)))
	f.st.Put(ctx, store.DomainDistributedRunning, hashQuery("young"), []byte(strconv.FormatInt(now-10, 10)))
	f.st.Put(ctx, store.DomainDistributedRunning, hashQuery("garbage"), []byte("not a time"))
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	if k := f.keys(store.DomainDistributedRunning, ""); !slices.Equal(k, []string{hashQuery("young")}) {
		t.Errorf("markers after cleanup %q", k)
	}
}

func TestQueueSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	f.answers(`{"queries":{"a":"select 'one' as v","b":"select 'two' as v"}}`)
	// The worker dies after the read, before running anything.
	if err := f.r.read(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q := f.queued(); !slices.Equal(q, []string{"a", "b"}) {
		t.Fatalf("queued %v", q)
	}
	f.restart()
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	w := f.lastWrite()
	if rowString(w.queries["a"]) != "{v=one}" || rowString(w.queries["b"]) != "{v=two}" {
		t.Errorf("after restart %s", w.raw)
	}
	if n := len(f.srv.Requests(remotetest.DistributedReadPath)); n != 2 {
		t.Errorf("%d reads", n)
	}
}

func TestDeathBeforeWriteRunsAgain(t *testing.T) {
	f := newFixture(t)
	f.answers(`{"queries":{"a":"select 'one' as v"}}`)
	ctx := context.Background()
	// The worker dies after running the query, before writing: the
	// query is still queued (no result is stored on the way to a
	// write) and its running marker is gone, so it runs again.
	if err := f.r.read(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.r.runQueued(ctx); err != nil {
		t.Fatal(err)
	}
	if q := f.queued(); !slices.Equal(q, []string{"a"}) {
		t.Fatalf("queued %v", q)
	}
	if k := f.keys(store.DomainDistributedRunning, ""); len(k) != 0 {
		t.Fatalf("running markers %q", k)
	}
	f.restart()
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	if s := f.r.Stats(); s.Executed != 1 || s.Denylisted != 0 {
		t.Errorf("stats %+v", s)
	}
	if got := rowString(f.lastWrite().queries["a"]); got != "{v=one}" {
		t.Errorf("write %s", got)
	}
	if k := f.keys(store.DomainDistributed, ""); len(k) != 0 {
		t.Errorf("left in the store %q", k)
	}
}

func TestLargeResultChunkedAndReloaded(t *testing.T) {
	const n = 30000
	f := newFixture(t, "--distributed_tls_max_attempts=1")
	fail := true
	f.srv.Handle(remotetest.DistributedWritePath, func(remotetest.Recorded) (int, []byte) {
		if fail {
			return 500, nil
		}
		return 200, []byte(`{}`)
	})
	f.answers(fmt.Sprintf(`{"queries":{"big":"with recursive c(x) as (select 1 union all select x+1 from c limit %d) select x, printf('row-%%06d', x) as name, x * 0.25 as q from c"}}`, n))
	f.once()
	chunks := 0
	for _, k := range f.keys(store.DomainDistributed, resultBase("big")) {
		if strings.HasSuffix(k, "m") {
			continue
		}
		chunks++
	}
	if chunks < 2 {
		t.Errorf("%d chunks for a result over %d bytes", chunks, resultChunk)
	}
	f.restart()
	fail = false
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	rows := f.lastWrite().queries["big"]
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	for _, i := range []int{0, 12345, n - 1} {
		want := fmt.Sprintf("{x=%d,name=row-%06d,q=%s}", i+1, i+1, strconv.FormatFloat(float64(i+1)*0.25, 'f', -1, 64))
		if !strings.Contains(want, ".") {
			want = strings.TrimSuffix(want, "}") + ".0}"
		}
		if got := rowString(rows[i : i+1]); got != want {
			t.Errorf("row %d: %s, want %s", i, got, want)
		}
	}
}

func TestCorruptStoredResultDropped(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// One good result (written through the code), one with a chunk cut.
	good := &result{id: "good", status: 0, perf: &perf{1, 2, 3, 4}}
	f.r.pending.add(good, []byte(`[{"a":"1"}]`))
	bad := &result{id: "bad", status: 1, message: "m"}
	f.r.pending.add(bad, []byte(`[{"a":"1"},{"b":"2"}]`))
	err := f.st.Update(ctx, func(tx *store.Tx) error {
		if err := f.r.pending.persist(tx, good); err != nil {
			return err
		}
		return f.r.pending.persist(tx, bad)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.st.Put(ctx, store.DomainDistributed, chunkKey("bad", 0), []byte(`[{"a":"1"},{"b":`))
	f.restart()
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	w := f.lastWrite()
	if rowString(w.queries["good"]) != "{a=1}" || w.stats["good"]["memory"] != "4" {
		t.Errorf("good result %s", w.raw)
	}
	if _, ok := w.queries["bad"]; ok {
		t.Error("corrupt result sent")
	}
	if !hasLine(f.logs.take(), "WARN", "Dropping unreadable stored result") {
		t.Error("no warning")
	}
	if k := f.keys(store.DomainDistributed, ""); len(k) != 0 {
		t.Errorf("left in the store %q", k)
	}
}

func TestWriteBodyShape(t *testing.T) {
	p := newPending()
	body, done := p.writeBody()
	b, _ := json.Marshal(body)
	done()
	if string(b) != `{"messages":{},"queries":{},"stats":{},"statuses":{}}` || string(p.buf) != "{" {
		t.Errorf("empty body %s, buf %q", b, p.buf)
	}
	p.add(&result{id: "a\"b", status: 1, message: "m\n"}, []byte(`[]`))
	p.add(&result{id: "c", perf: &perf{5, 6, 7, 8}}, []byte(`[{"x":"1"}]`))
	body, done = p.writeBody()
	b, _ = json.Marshal(body)
	done()
	want := `{"messages":{"a\"b":"m\n","c":""},"queries":{"a\"b":[],"c":[{"x":"1"}]},` +
		`"stats":{"a\"b":{},"c":{"wall_time_ms":5,"user_time":6,"system_time":7,"memory":8}},"statuses":{"a\"b":1,"c":0}}`
	if string(b) != want {
		t.Errorf("body\n%s\nwant\n%s", b, want)
	}
	if !strings.HasSuffix(string(p.buf), ",") {
		t.Errorf("buffer not reopened: %q", p.buf)
	}
}

// Environment of TestWorkerKilledMidQuery's child: the store file and the
// flags, tab-separated.
const (
	workerStoreEnv = "GOSQUERY_DISTRIBUTED_WORKER_STORE"
	workerFlagsEnv = "GOSQUERY_DISTRIBUTED_WORKER_FLAGS"
)

// runWorker is the child of TestWorkerKilledMidQuery: a runner whose
// query blocks until the parent kills the process.
func runWorker(t *testing.T) {
	fl := flags.Standard()
	if _, err := fl.Parse(strings.Split(os.Getenv(workerFlagsEnv), "\t")); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 1)
	db, err := sqlengine.Open(table.HostEnv(fl, testRegistry(t, started), nil))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(os.Getenv(workerStoreEnv), nil)
	if err != nil {
		t.Fatal(err)
	}
	client := remote.New(remote.Options{Flags: fl, Store: st, HostIdentifier: func() string { return "host-a" }})
	r := New(Options{Client: client, DB: db, Store: st, Flags: fl})
	go func() {
		<-started
		fmt.Println("BLOCKED")
	}()
	r.RunOnce(context.Background()) // never returns: the query blocks
}

// TestWorkerKilledMidQuery kills a real worker process while it runs a
// live query, then starts a runner on the store it left: the query it
// was running is answered as denylisted, and so is the same SQL asked
// again.
func TestWorkerKilledMidQuery(t *testing.T) {
	if os.Getenv(workerStoreEnv) != "" {
		runWorker(t)
		return
	}
	f := newFixture(t)
	const sql = "select x from distributed_block"
	f.answers(`{"queries":{"slow":"`+sql+`"}}`, `{"queries":{"again":"`+sql+`"}}`)
	f.st.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerKilledMidQuery$", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), workerStoreEnv+"="+f.path, workerFlagsEnv+"="+strings.Join(f.args, "\t"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "BLOCKED" {
				blocked <- true
				io.Copy(io.Discard, out)
				return
			}
		}
		blocked <- false
	}()
	select {
	case ok := <-blocked:
		if !ok {
			cmd.Wait()
			t.Fatal("the worker ended before running the query")
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the worker did not start the query")
	}
	// The watchdog's kill: no cleanup of any kind in the worker.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	f.open()
	if k := f.keys(store.DomainDistributedRunning, ""); !slices.Equal(k, []string{hashQuery(sql)}) {
		t.Fatalf("running markers after the kill %q", k)
	}
	if q := f.queued(); !slices.Equal(q, []string{"slow"}) {
		t.Fatalf("queue after the kill %v", q)
	}
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	w := f.lastWrite()
	for _, id := range []string{"slow", "again"} {
		if w.statuses[id] != "1" || w.messages[id] != DenylistedMessage || len(w.queries[id]) != 0 {
			t.Errorf("%s: %s", id, w.raw)
		}
	}
}

func TestLogLinesBounded(t *testing.T) {
	f := newFixture(t, "--distributed_loginfo=true")
	long := strings.Repeat("a", 1<<20)
	f.answers(`{"queries":{"long":"select '` + long + `' as x","longerr":"select * from ` + long + `"}}`)
	if err := f.once(); err != nil {
		t.Fatal(err)
	}
	lines := f.logs.take()
	if !hasLine(lines, "INFO", "Executing distributed query: long: select 'aaa") || !hasLine(lines, "ERROR", "no such table: aaa") {
		t.Errorf("log lines missing")
	}
	for _, l := range lines {
		if len(l) > 5000 {
			t.Errorf("log line of %d bytes", len(l))
		}
	}
	w := f.lastWrite()
	if got := w.queries["long"]; len(got) != 1 || got[0][0].V != long {
		t.Error("long value not written back")
	}
	if w.messages["longerr"] != "no such table: "+long {
		t.Errorf("message of %d bytes", len(w.messages["longerr"]))
	}
}
