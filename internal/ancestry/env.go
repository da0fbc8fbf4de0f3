package ancestry

import (
	"context"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

type serviceKey struct{}

// ConfigFromFlags reads the three process_ancestry_* flags.
func ConfigFromFlags(fl *flags.Set) (capacity int, ttl time.Duration, depth int) {
	return int(fl.Int("process_ancestry_cache_size")),
		time.Duration(fl.Int("process_ancestry_cache_ttl")) * time.Second,
		int(fl.Int("process_ancestry_max_depth"))
}

// ForEnv returns the process's ancestry cache, creating it on first use:
// sized from the flags, seeded by a /proc scan, and resized whenever the
// flags change (a config reload setting them in "options").
func ForEnv(env *table.Env) *Cache {
	return env.ServiceOrInit(serviceKey{}, func() any {
		capacity, ttl, depth := ConfigFromFlags(env.Flags)
		c := New(Config{Capacity: capacity, TTL: ttl, MaxDepth: depth, Proc: procfs.New(env.ProcRoot), Now: env.Now})
		env.Flags.OnChange(func(name, _ string) {
			switch name {
			case "process_ancestry_cache_size", "process_ancestry_cache_ttl", "process_ancestry_max_depth":
				c.Configure(ConfigFromFlags(env.Flags))
			}
		})
		if err := c.Scan(context.Background()); err != nil {
			env.Log.Warn("process ancestry: initial /proc scan failed: " + err.Error())
		}
		return c
	}).(*Cache)
}
