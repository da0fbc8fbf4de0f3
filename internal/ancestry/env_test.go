package ancestry

import (
	"testing"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/table"
)

// The three flags come from the command line, a flagfile or the config's
// options; a change made by a config reload resizes the live cache.
func TestForEnvFollowsFlags(t *testing.T) {
	fl := flags.Standard()
	if _, err := fl.Parse([]string{"--process_ancestry_cache_size=50", "--process_ancestry_max_depth=4"}); err != nil {
		t.Fatal(err)
	}
	env := table.HostEnv(fl, table.NewRegistry(), nil)
	c := ForEnv(env)
	if ForEnv(env) != c {
		t.Fatal("ForEnv made a second cache")
	}
	s := c.Stats()
	if s.Capacity != 50 || s.MaxDepth != 4 || s.TTL.Seconds() != 300 || s.Scanned == 0 {
		t.Fatalf("from flags: %+v", s)
	}
	if err := fl.SetOption("process_ancestry_cache_size", "3"); err != nil {
		t.Fatal(err)
	}
	if err := fl.SetOption("process_ancestry_cache_ttl", "7"); err != nil {
		t.Fatal(err)
	}
	s = c.Stats()
	// Shrinking keeps only what is pinned beyond the target.
	if s.Capacity != 3 || s.Size > max(3, s.PinnedNodes) || s.TTL.Seconds() != 7 {
		t.Fatalf("after options: %+v", s)
	}
	fl.SetOption("process_ancestry_cache_size", "0")
	if c.Enabled() {
		t.Fatal("size 0 should turn ancestry off")
	}
}
