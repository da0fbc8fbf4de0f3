package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestDomains(t *testing.T) {
	want := []string{"configurations", "queries", "events", "logs", "carves",
		"distributed", "distributed_running", "query_performance"}
	if got := Domains(); !slices.Equal(got, want) {
		t.Fatalf("Domains() = %v", got)
	}
	db := storeTestOpen(t, "")
	ctx := context.Background()
	if err := db.Put(ctx, "nope", "k", nil); !errors.Is(err, ErrUnknownDomain) {
		t.Errorf("Put to unknown domain: %v", err)
	}
	if _, _, err := db.Get(ctx, "", "k"); !errors.Is(err, ErrUnknownDomain) {
		t.Errorf("Get from empty domain: %v", err)
	}
}

func TestKV(t *testing.T) {
	ctx := context.Background()
	for name, path := range map[string]string{"memory": "", "file": t.TempDir()} {
		t.Run(name, func(t *testing.T) {
			db := storeTestOpen(t, path)
			if _, ok, err := db.Get(ctx, DomainQueries, "missing"); ok || err != nil {
				t.Fatalf("Get missing: %v %v", ok, err)
			}
			// Domains are separate namespaces.
			must(t, db.Put(ctx, DomainQueries, "k", []byte("q")))
			must(t, db.Put(ctx, DomainLogs, "k", []byte("l")))
			storeTestExpect(t, db, DomainQueries, "k", "q")
			storeTestExpect(t, db, DomainLogs, "k", "l")
			// Replace, empty and nil values, binary values, odd keys.
			must(t, db.Put(ctx, DomainQueries, "k", []byte("q2")))
			storeTestExpect(t, db, DomainQueries, "k", "q2")
			must(t, db.Put(ctx, DomainQueries, "empty", []byte{}))
			must(t, db.Put(ctx, DomainQueries, "nil", nil))
			for _, k := range []string{"empty", "nil"} {
				v, ok, err := db.Get(ctx, DomainQueries, k)
				if !ok || err != nil || v == nil || len(v) != 0 {
					t.Errorf("Get %s = %q %v %v, want present and empty", k, v, ok, err)
				}
			}
			bin := []byte{0, 1, 2, 0xff, 0xfe, 0}
			odd := "key with spaces, 'quotes', \"dq\", \x00nul, \xff\xfe non-UTF-8, 日本"
			must(t, db.Put(ctx, DomainCarves, odd, bin))
			storeTestExpect(t, db, DomainCarves, odd, string(bin))
			big := strings.Repeat("r", 8<<20)
			must(t, db.Put(ctx, DomainQueries, "big", []byte(big)))
			storeTestExpect(t, db, DomainQueries, "big", big)
			// Returned values are the caller's.
			v, _, _ := db.Get(ctx, DomainQueries, "k")
			v[0] = 'X'
			storeTestExpect(t, db, DomainQueries, "k", "q2")

			must(t, db.Delete(ctx, DomainQueries, "k"))
			must(t, db.Delete(ctx, DomainQueries, "k")) // missing: fine
			if _, ok, _ := db.Get(ctx, DomainQueries, "k"); ok {
				t.Errorf("k survived Delete")
			}
			storeTestExpect(t, db, DomainLogs, "k", "l")
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func storeTestExpect(t testing.TB, db *DB, domain, key, want string) {
	t.Helper()
	v, ok, err := db.Get(context.Background(), domain, key)
	if err != nil || !ok || string(v) != want {
		if len(v) > 40 {
			v = v[:40]
		}
		t.Fatalf("Get(%s, %q) = %q %v %v, want %.40q", domain, key, v, ok, err, want)
	}
}

func storeTestKeys(t testing.TB, db *DB, domain, prefix string) []string {
	t.Helper()
	var keys []string
	err := db.Scan(context.Background(), domain, prefix, func(k string, v []byte) error {
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestScanPrefixOrder(t *testing.T) {
	ctx := context.Background()
	db := storeTestOpen(t, t.TempDir())
	// Random keys over a small alphabet that includes the bytes where
	// prefix ranges are easy to get wrong (0x00, 0xff, '.', '/').
	alphabet := []byte{0, 'a', 'b', '.', '/', 0x7f, 0x80, 0xfe, 0xff}
	r := rand.New(rand.NewPCG(1, 2))
	keys := map[string]bool{}
	for len(keys) < 1500 {
		b := make([]byte, 1+r.IntN(4))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		keys[string(b)] = true
	}
	for k := range keys {
		must(t, db.Put(ctx, DomainEvents, k, []byte(k)))
	}
	must(t, db.Put(ctx, DomainLogs, "a", nil)) // another domain: never seen
	prefixes := []string{"", "a", "\xff", "\xff\xff", "a\xff", "\x00", ".", "b/", "\x80\x80\x80", "zz"}
	for k := range keys {
		if len(prefixes) > 60 {
			break
		}
		prefixes = append(prefixes, k[:1+len(k)/2])
	}
	for _, p := range prefixes {
		var want []string
		for k := range keys {
			if strings.HasPrefix(k, p) {
				want = append(want, k)
			}
		}
		slices.Sort(want)
		got := storeTestKeys(t, db, DomainEvents, p)
		if !slices.Equal(got, want) {
			t.Fatalf("Scan prefix %q: %d keys, want %d", p, len(got), len(want))
		}
	}
	// Values come with their keys across pages.
	n := 0
	must(t, db.Scan(ctx, DomainEvents, "", func(k string, v []byte) error {
		if string(v) != k {
			t.Fatalf("value of %q is %q", k, v)
		}
		n++
		return nil
	}))
	if n != len(keys) {
		t.Fatalf("scanned %d of %d", n, len(keys))
	}
	// DeletePrefix removes exactly the prefix's keys.
	for _, p := range []string{"a\xff", "\xff", "b"} {
		before := len(storeTestKeys(t, db, DomainEvents, ""))
		want := len(storeTestKeys(t, db, DomainEvents, p))
		got, err := db.DeletePrefix(ctx, DomainEvents, p)
		if err != nil || got != want {
			t.Fatalf("DeletePrefix(%q) = %d, %v; want %d", p, got, err, want)
		}
		if left := storeTestKeys(t, db, DomainEvents, p); len(left) != 0 {
			t.Fatalf("DeletePrefix(%q) left %d", p, len(left))
		}
		if after := len(storeTestKeys(t, db, DomainEvents, "")); after != before-want {
			t.Fatalf("DeletePrefix(%q) removed %d, want %d", p, before-after, want)
		}
	}
	if _, err := db.DeletePrefix(ctx, DomainEvents, ""); err != nil {
		t.Fatal(err)
	}
	if left := storeTestKeys(t, db, DomainEvents, ""); len(left) != 0 {
		t.Fatalf("DeletePrefix(\"\") left %d keys", len(left))
	}
	storeTestExpect(t, db, DomainLogs, "a", "")
}

func TestPrefixEnd(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"ab", "ac", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
		{"a\xfe", "a\xff", true},
	}
	for _, c := range cases {
		got, ok := prefixEnd(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("prefixEnd(%q) = %q %v, want %q %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestScanCallbackUsesDB: the callback runs without the lock, so it may
// write (osquery deletes expired log lines while iterating).
func TestScanCallbackUsesDB(t *testing.T) {
	ctx := context.Background()
	db := storeTestOpen(t, t.TempDir())
	for i := range 600 {
		must(t, db.Put(ctx, DomainLogs, fmt.Sprintf("filesystem_r_%04d", i), []byte("line")))
	}
	seen := 0
	err := db.Scan(ctx, DomainLogs, "filesystem_r_", func(k string, v []byte) error {
		seen++
		if err := db.Delete(ctx, DomainLogs, k); err != nil {
			return err
		}
		return db.Put(ctx, DomainQueries, "done."+k, nil)
	})
	if err != nil || seen != 600 {
		t.Fatalf("Scan: %d keys, %v", seen, err)
	}
	if left := storeTestKeys(t, db, DomainLogs, ""); len(left) != 0 {
		t.Fatalf("%d keys left", len(left))
	}
	// ErrStopScan stops without error; other errors come back.
	seen = 0
	err = db.Scan(ctx, DomainQueries, "", func(string, []byte) error {
		seen++
		if seen == 300 {
			return ErrStopScan
		}
		return nil
	})
	if err != nil || seen != 300 {
		t.Fatalf("ErrStopScan: %d, %v", seen, err)
	}
	boom := errors.New("boom")
	if err := db.Scan(ctx, DomainQueries, "", func(string, []byte) error { return boom }); err != boom {
		t.Fatalf("callback error: %v", err)
	}
}

func TestUpdateAtomic(t *testing.T) {
	ctx := context.Background()
	db := storeTestOpen(t, t.TempDir())
	must(t, db.Put(ctx, DomainQueries, "q", []byte("old")))
	must(t, db.Put(ctx, DomainQueries, "qcounter", []byte("1")))

	// An error rolls back every write.
	boom := errors.New("boom")
	err := db.Update(ctx, func(tx *Tx) error {
		must(t, tx.Put(DomainQueries, "q", []byte("new")))
		v, ok, err := tx.Get(DomainQueries, "q")
		if err != nil || !ok || string(v) != "new" {
			t.Errorf("tx does not see its own write: %q %v %v", v, ok, err)
		}
		must(t, tx.Put(DomainQueries, "qcounter", []byte("2")))
		return boom
	})
	if err != boom {
		t.Fatalf("Update error = %v", err)
	}
	storeTestExpect(t, db, DomainQueries, "q", "old")
	storeTestExpect(t, db, DomainQueries, "qcounter", "1")

	// A panic rolls back too, and the store keeps working.
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic swallowed")
			}
		}()
		_ = db.Update(ctx, func(tx *Tx) error {
			must(t, tx.Put(DomainQueries, "q", []byte("panic")))
			panic("bug")
		})
	}()
	storeTestExpect(t, db, DomainQueries, "q", "old")

	// Success commits everything; Tx is dead afterwards.
	var leaked *Tx
	must(t, db.Update(ctx, func(tx *Tx) error {
		leaked = tx
		must(t, tx.Put(DomainQueries, "q", []byte("new")))
		must(t, tx.Put(DomainQueries, "qcounter", []byte("2")))
		must(t, tx.Delete(DomainQueries, "gone"))
		n, err := tx.DeletePrefix(DomainLogs, "")
		if err != nil || n != 0 {
			t.Errorf("tx.DeletePrefix: %d %v", n, err)
		}
		var keys []string
		err = tx.Scan(DomainQueries, "q", func(k string, _ []byte) error {
			keys = append(keys, k)
			return tx.Put(DomainQueries, "seen."+k, nil)
		})
		if err != nil || strings.Join(keys, ",") != "q,qcounter" {
			t.Errorf("tx.Scan: %v %v", keys, err)
		}
		return nil
	}))
	storeTestExpect(t, db, DomainQueries, "q", "new")
	storeTestExpect(t, db, DomainQueries, "qcounter", "2")
	storeTestExpect(t, db, DomainQueries, "seen.qcounter", "")
	if err := leaked.Put(DomainQueries, "late", nil); !errors.Is(err, ErrTxDone) {
		t.Fatalf("Tx used after Update: %v", err)
	}

	// A cancelled context rolls back.
	cctx, cancel := context.WithCancel(ctx)
	err = db.Update(cctx, func(tx *Tx) error {
		must(t, tx.Put(DomainQueries, "q", []byte("cancelled")))
		cancel()
		return tx.Put(DomainQueries, "qcounter", []byte("3"))
	})
	if err == nil {
		t.Fatal("Update with a context cancelled midway succeeded")
	}
	storeTestExpect(t, db, DomainQueries, "q", "new")
	storeTestExpect(t, db, DomainQueries, "qcounter", "2")
}
