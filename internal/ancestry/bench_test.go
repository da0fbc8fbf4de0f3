package ancestry

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/procfs"
)

// chainCache builds a cache holding a chain of depth+1 processes
// (pid 1 at the root) with realistic paths and command lines.
func chainCache(depth int) (*Cache, Key) {
	c := New(Config{Capacity: 1000, TTL: time.Minute, MaxDepth: 32, Proc: procfs.New(os.TempDir())})
	c.mu.Lock()
	defer c.mu.Unlock()
	var leaf Key
	for pid := int32(1); pid <= int32(depth+1); pid++ {
		n := &node{
			key:     Key{pid, uint64(pid) * 10},
			ppid:    pid - 1,
			exe:     "bash",
			path:    "/usr/bin/bash",
			cmdline: "/usr/bin/bash -c run-something --with-flags " + strconv.Itoa(int(pid)),
		}
		n.pathKnown, n.cmdlineKnown = true, true
		n = c.insertLocked(n)
		if pid > 1 {
			c.link(n, c.lookupLocked(Key{pid - 1, uint64(pid-1) * 10}))
		}
		leaf = n.key
	}
	return c, leaf
}

// BenchmarkCachedChainDepth6 is the hot path of process_events: a chain of
// six cached ancestors, JSON included. Target: at most 2 µs.
func BenchmarkCachedChainDepth6(b *testing.B) {
	c, leaf := chainCache(6)
	if ch := c.Ancestry(leaf); ch.Depth != 6 {
		b.Fatalf("depth %d", ch.Depth)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Ancestry(leaf)
	}
}

// BenchmarkCachedChainParallel is the same lookup from every core at once.
func BenchmarkCachedChainParallel(b *testing.B) {
	c, leaf := chainCache(6)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Ancestry(leaf)
		}
	})
}

// selfChain returns this test process's pid and its ancestors' count.
func selfChain(b *testing.B) (int32, int) {
	c := New(Config{Capacity: 1000, TTL: time.Minute, Proc: procfs.New("/proc")})
	p, ok := c.Live(int32(os.Getpid()))
	if !ok {
		b.Fatal("self not in /proc")
	}
	return p.Key.PID, c.Ancestry(p.Key).Depth
}

// BenchmarkMissPerAncestor builds this process's chain with an empty cache
// every time, so each ancestor is read from /proc; the metric is the cost
// per ancestor, to set beside BenchmarkRawProcRead.
func BenchmarkMissPerAncestor(b *testing.B) {
	pid, depth := selfChain(b)
	b.ReportAllocs()
	for b.Loop() {
		c := New(Config{Capacity: 1000, TTL: time.Minute, Proc: procfs.New("/proc")})
		p, _ := c.Live(pid)
		c.Ancestry(p.Key)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(depth+1)), "ns/ancestor")
}

// BenchmarkRawProcRead is the floor for a miss: reading stat, the exe link
// and cmdline of one process, nothing else.
func BenchmarkRawProcRead(b *testing.B) {
	fs := procfs.New("/proc")
	pid := os.Getppid()
	b.ReportAllocs()
	for b.Loop() {
		fs.Stat(pid)
		fs.Exe(pid)
		fs.Cmdline(pid)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func rssKB() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkNodeMemory reports the heap held per cached node, with and
// without its strings (the product promised 1-2 MB per 1,000 entries), and
// the process RSS growth, for 1,000 and 100,000 nodes.
func BenchmarkNodeMemory(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		for _, withStrings := range []bool{false, true} {
			b.Run(fmt.Sprintf("nodes=%d/strings=%v", n, withStrings), func(b *testing.B) {
				var perNode, rss float64
				for b.Loop() {
					before, rss0 := heapInUse(), rssKB()
					c := New(Config{Capacity: n, TTL: time.Minute, Proc: procfs.New(os.TempDir())})
					c.mu.Lock()
					for i := 0; i < n; i++ {
						nd := &node{key: Key{int32(i + 2), uint64(i + 100)}, ppid: int32(i + 1), parentKey: Key{int32(i + 1), uint64(i + 99)}}
						if withStrings {
							nd.exe = "python3"
							nd.path = "/usr/bin/python3.11"
							nd.cmdline = "/usr/bin/python3 /opt/app/worker.py --queue default --id " + strconv.Itoa(i)
						}
						c.insertLocked(nd)
					}
					c.mu.Unlock()
					after := heapInUse()
					perNode = float64(after-before) / float64(n)
					rss = float64(rssKB() - rss0)
					runtime.KeepAlive(c)
				}
				b.ReportMetric(perNode, "B/node")
				b.ReportMetric(rss/1024, "MB-RSS-growth")
			})
		}
	}
}
