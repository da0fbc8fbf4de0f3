package ancestry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// checkInvariants verifies the cache's bookkeeping: the indexes agree, each
// node's child count is its child list's length, a node is on an
// evictable list exactly when nothing pins it, and the lists' counts are
// their lengths.
func (c *Cache) checkInvariants(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	count := func(l *lruList) int {
		n := 0
		for x := l.head; x != nil; x = x.next {
			if x.list != l {
				t.Fatalf("%v on list %p claims %p", x.key, l, x.list)
			}
			if x.gone || c.byKey[x.key] != x {
				t.Fatalf("listed node %v is not in the cache", x.key)
			}
			n++
		}
		return n
	}
	if n := count(&c.young); n != c.young.n {
		t.Fatalf("young list has %d, counts %d", n, c.young.n)
	}
	if n := count(&c.old); n != c.old.n {
		t.Fatalf("old list has %d, counts %d", n, c.old.n)
	}
	inPID := 0
	for pid, inc := range c.byPID {
		for i, n := range inc {
			if n.key.PID != pid || c.byKey[n.key] != n {
				t.Fatalf("byPID[%d] holds %v, not in byKey", pid, n.key)
			}
			if i > 0 && inc[i-1].key.Start > n.key.Start {
				t.Fatalf("byPID[%d] out of start order", pid)
			}
			inPID++
		}
	}
	if inPID != len(c.byKey) {
		t.Fatalf("byPID holds %d nodes, byKey %d", inPID, len(c.byKey))
	}
	for k, n := range c.byKey {
		if n.key != k || n.gone {
			t.Fatalf("byKey[%v] is %v (gone %v)", k, n.key, n.gone)
		}
		kids := 0
		for ch := n.firstChild; ch != nil; ch = ch.nextSib {
			if ch.parent != n {
				t.Fatalf("%v lists child %v whose parent is another", k, ch.key)
			}
			kids++
		}
		if kids != n.children {
			t.Fatalf("%v counts %d children, lists %d", k, n.children, kids)
		}
		if n.parent != nil && n.parent.gone {
			t.Fatalf("%v links a removed parent", k)
		}
		if n.pinned() == n.listed() {
			t.Fatalf("%v pinned=%v listed=%v", k, n.pinned(), n.listed())
		}
	}
}

// Events from two sources and queries at once, on a small cache: run with
// -race; the bookkeeping must hold after every phase.
func TestConcurrentEventsKeepInvariants(t *testing.T) {
	f := treeFixture(t)
	c, clk := newFixtureCache(f, 40, time.Minute, 32)
	c.Scan(context.Background())
	var wg sync.WaitGroup
	const workers, rounds = 4, 400
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range rounds {
				pid := int32(1000 + w*1000 + i%300) // pids recycle
				tick := uint64(1000 + i*10 + w)
				parent := []int32{200, 300, 400, int32(1000 + w*1000 + rng.IntN(300))}[rng.IntN(4)]
				c.Fork(parent, pid, tk(tick))
				c.Exec(ExecEvent{PID: pid, PPID: parent, Path: "/bin/x", Cmdline: fmt.Sprint("x ", i), Time: atTicks(tick + 1)})
				if rng.IntN(3) > 0 {
					c.Exit(pid, tick+2)
				}
				if i%50 == 0 {
					c.Ancestry(Key{pid, tick})
					c.Stats()
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			clk.add(500 * time.Millisecond)
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	c.checkInvariants(t)
	clk.add(time.Hour) // every grace and TTL runs out
	c.Configure(10, time.Minute, 32)
	c.checkInvariants(t)
	if s := c.Stats(); s.Size > 10+s.PinnedNodes {
		t.Fatalf("after the TTL and a shrink: %+v", s)
	}
	c.Configure(0, time.Minute, 32)
	c.checkInvariants(t)
}
