package distributed

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/remote/remotetest"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/store"
	"github.com/gosquery/gosquery/internal/table"
)

// benchRows is the size of the benchmark's live query.
const benchRows = 100000

// benchSQL returns benchRows rows of five columns, the shape of a
// processes-like live query, from the engine alone (a recursive CTE), so
// the baseline and the distributed run do exactly the same SQL work.
var benchSQL = fmt.Sprintf(`with recursive c(x) as (select 1 union all select x + 1 from c limit %d)
select x as pid, printf('process-%%06d', x) as name, '/usr/bin/tool' || (x %% 5000) as path,
       x %% 977 as parent, x * 1.5 as score from c`, benchRows)

const benchServerEnv = "GOSQUERY_DISTRIBUTED_BENCH_SERVER"

// TestBenchServerChild is the benchmark's server, run in a child process
// so that its decoding and recording of 10 MB requests do not count in
// the figures of the process measured. It does nothing in a normal run.
func TestBenchServerChild(t *testing.T) {
	if os.Getenv(benchServerEnv) == "" {
		t.Skip("only as the benchmark's server process")
	}
	srv := remotetest.Start(t, remotetest.Options{EnrollSecret: "bench"})
	read, _ := json.Marshal(map[string]any{"queries": map[string]string{"big": benchSQL}})
	srv.Handle(remotetest.DistributedReadPath, func(remotetest.Recorded) (int, []byte) { return http.StatusOK, read })
	srv.Handle(remotetest.DistributedWritePath, func(r remotetest.Recorded) (int, []byte) {
		// Check the answer, then let the server forget it.
		q, _ := r.Body["queries"].(map[string]any)
		rows, _ := q["big"].([]any)
		if len(rows) != benchRows {
			return http.StatusOK, []byte(fmt.Sprintf(`{"error":"%d rows"}`, len(rows)))
		}
		return http.StatusOK, []byte(`{}`)
	})
	fmt.Printf("READY\t%s\n", strings.Join(srv.Flags(), "\t"))
	io.Copy(io.Discard, os.Stdin) // until the parent closes it
}

// startBenchServer runs TestBenchServerChild and returns its flags.
func startBenchServer(b *testing.B) []string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchServerChild$", "-test.timeout=0")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if f, ok := strings.CutPrefix(sc.Text(), "READY\t"); ok {
			go io.Copy(io.Discard, stdout)
			return strings.Split(f, "\t")
		}
	}
	b.Fatal("the server process did not start")
	return nil
}

// meter measures one sub-benchmark: CPU time of the process, peak Go heap
// (sampled) and peak RSS (VmHWM, reset through /proc/self/clear_refs).
type meter struct {
	cpu0      time.Duration
	heap0     uint64
	peak      atomic.Uint64
	stop      chan struct{}
	wg        sync.WaitGroup
	hwmReset  bool
	sample    []metrics.Sample
	sampleMu  sync.Mutex
	wallStart time.Time
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (m *meter) heapNow() uint64 {
	m.sampleMu.Lock()
	defer m.sampleMu.Unlock()
	metrics.Read(m.sample)
	return m.sample[0].Value.Uint64()
}

func startMeter() *meter {
	runtime.GC()
	runtime.GC()
	m := &meter{stop: make(chan struct{}), sample: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
	m.hwmReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	m.heap0 = m.heapNow()
	m.peak.Store(m.heap0)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(500 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				if h := m.heapNow(); h > m.peak.Load() {
					m.peak.Store(h)
				}
			}
		}
	}()
	m.cpu0 = cpuTime()
	m.wallStart = time.Now()
	return m
}

func (m *meter) report(b *testing.B) {
	cpu := cpuTime() - m.cpu0
	close(m.stop)
	m.wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(m.peak.Load()-m.heap0)/(1<<20), "peak-heap-MB")
	st, err := procfs.New("/proc").Status(os.Getpid())
	if err == nil {
		if hwm := vmHWM(); hwm > 0 {
			name := "peak-rss-MB"
			if !m.hwmReset {
				name = "process-peak-rss-MB"
			}
			b.ReportMetric(float64(hwm)/(1<<20), name)
		}
		b.ReportMetric(float64(st.VmRSS)/(1<<20), "rss-after-MB")
	}
}

func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}

// BenchmarkLiveQuery100k compares, in one run, a 100,000-row live query
// sent to a local remotetest server (read, run, encode, store, write)
// with the engine running the same SQL and discarding the rows: Query as
// the scheduler runs it (rows collected), and Stream (rows seen one at a
// time). The server runs in a child process.
func BenchmarkLiveQuery100k(b *testing.B) {
	srvFlags := startBenchServer(b)
	dir := b.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("bench"), 0o600)
	fl := flags.Standard()
	if _, err := fl.Parse(append(srvFlags, "--enroll_secret_path="+secret, "--disable_distributed=false")); err != nil {
		b.Fatal(err)
	}
	db, err := sqlengine.Open(table.HostEnv(fl, testRegistry(b, nil), nil))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	st, err := store.Open(filepath.Join(dir, "osquery.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	client := remote.New(remote.Options{Flags: fl, Store: st, HostIdentifier: func() string { return "bench" }})
	r := New(Options{Client: client, DB: db, Store: st, Flags: fl, Log: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	// Warm up every path once (enrollment, the store's and the engine's
	// memory), so no sub-benchmark pays for the first use.
	if err := r.RunOnce(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Query(ctx, benchSQL); err != nil {
		b.Fatal(err)
	}

	b.Run("baseline_engine_query", func(b *testing.B) {
		m := startMeter()
		for b.Loop() {
			res, err := db.Query(ctx, benchSQL)
			if err != nil || len(res.Rows) != benchRows {
				b.Fatal(err)
			}
		}
		m.report(b)
	})
	b.Run("baseline_engine_stream", func(b *testing.B) {
		m := startMeter()
		for b.Loop() {
			n := 0
			err := db.Stream(ctx, benchSQL, func([]string) error { return nil }, func([]sqlengine.Value) error { n++; return nil })
			if err != nil || n != benchRows {
				b.Fatal(err)
			}
		}
		m.report(b)
	})
	// The runner's own part: read, run and encode into the results
	// buffer, without the write (whose JSON re-encoding happens in
	// remote.Client.Post).
	b.Run("distributed_read_run_encode", func(b *testing.B) {
		m := startMeter()
		for b.Loop() {
			if err := r.read(ctx); err != nil {
				b.Fatal(err)
			}
			if err := r.runQueued(ctx); err != nil || r.pending.count() != 1 {
				b.Fatal(err)
			}
			if err := r.forget(ctx, r.pending.results); err != nil {
				b.Fatal(err)
			}
			r.pending.clear()
		}
		m.report(b)
	})
	b.Run("distributed_to_server", func(b *testing.B) {
		sent0 := client.Stats().BytesSent
		m := startMeter()
		for b.Loop() {
			if err := r.RunOnce(ctx); err != nil {
				b.Fatal(err)
			}
		}
		m.report(b)
		s := r.Stats()
		if s.WriteFailures != 0 || s.PendingResults != 0 {
			b.Fatalf("stats %+v", s)
		}
		b.ReportMetric(float64(client.Stats().BytesSent-sent0)/float64(b.N)/(1<<20), "sent-MB/op")
	})
}
