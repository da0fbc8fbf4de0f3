package store

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const storeKillEnv = "GOSQUERY_STORE_KILL_CHILD"

// storeKillRow is the content of row j of the i-th Add, so the parent can
// check what it reads back.
func storeKillRow(i, j int) []byte {
	return fmt.Appendf(nil, `{"i":"%d","j":"%d","pad":"%s"}`, i, j, strings.Repeat("p", 40))
}

// TestStoreKillChild is the child of TestKillDuringWrites: it writes in a
// loop and prints a line after each write returned, until it is killed.
func TestStoreKillChild(t *testing.T) {
	dir := os.Getenv(storeKillEnv)
	if dir == "" {
		t.Skip("child process of TestKillDuringWrites")
	}
	ctx := context.Background()
	db, err := OpenWithOptions(dir, Options{FlushInterval: time.Millisecond, FlushRows: 10})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	es, err := db.Events("process_events")
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	// Continue the counter a previous child left.
	start := 0
	if v, ok, err := db.Get(ctx, DomainQueries, "packqcounter"); err == nil && ok {
		start, _ = strconv.Atoi(string(v))
		start++
	}
	fail := func(err error) {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	for i := start; ; i++ {
		n := 2
		if i%7 == 0 {
			n = 300 // a big transaction now and then, to be killed inside
		}
		rows := make([][]byte, n)
		for j := range rows {
			rows[j] = storeKillRow(i, j)
		}
		first, err := es.Add(ctx, int64(i/5), rows)
		if err != nil {
			fail(err)
		}
		fmt.Printf("E %d %d %d\n", i, first, n)
		// A differential result and its counter, written together.
		result, _ := json.Marshal(map[string]int{"counter": i})
		err = db.Update(ctx, func(tx *Tx) error {
			if err := tx.Put(DomainQueries, "packq", result); err != nil {
				return err
			}
			return tx.Put(DomainQueries, "packqcounter", []byte(strconv.Itoa(i)))
		})
		if err != nil {
			fail(err)
		}
		fmt.Printf("U %d\n", i)
		// Background-flushed rows: not promised across a kill, but they
		// must not break the store either.
		if err := es.AddAsync(int64(i/5), [][]byte{[]byte(`{"async":"1"}`)}); err != nil {
			fail(err)
		}
	}
}

// TestKillDuringWrites SIGKILLs a child process that writes events and
// counters in a loop, several times over the same store, and checks after
// each kill that the store opens without being moved aside, every Add that
// returned before the kill is there with its rows, each counter matches its
// result, and event ids keep growing across restarts.
func TestKillDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	ctx := context.Background()
	type add struct {
		i, n  int
		first uint64
	}
	var adds []add
	maxEID := uint64(0)
	lastCounter := -1
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStoreKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), storeKillEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		lines := 0
		killAt := 100 + round*37
		var roundAdds []add
		updated := -1
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 4 && f[0] == "E":
				i, _ := strconv.Atoi(f[1])
				first, _ := strconv.ParseUint(f[2], 10, 64)
				n, _ := strconv.Atoi(f[3])
				roundAdds = append(roundAdds, add{i, n, first})
			case len(f) == 2 && f[0] == "U":
				updated, _ = strconv.Atoi(f[1])
			case len(f) > 0 && f[0] == "ERR":
				t.Fatalf("child: %s", sc.Text())
			}
			lines++
			if lines == killAt/2 {
				// A second process's view: opening the store the child is
				// writing to works and corrupts nothing.
				other, err := Open(dir, nil)
				if err != nil {
					t.Fatalf("round %d: open while the child writes: %v", round, err)
				}
				must(t, other.Put(ctx, DomainConfigurations, fmt.Sprintf("parent.%d", round), []byte("x")))
				if _, _, err := other.Get(ctx, DomainQueries, "packqcounter"); err != nil {
					t.Fatal(err)
				}
				must(t, other.Close())
			}
			if lines == killAt {
				// Kill at a random moment, not right after a line: likely
				// inside a transaction.
				delay := time.Duration(rand.IntN(3000)) * time.Microsecond
				time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
			}
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child did not die of SIGKILL: %v", err)
		}
		if len(roundAdds) == 0 {
			t.Fatal("child wrote nothing")
		}
		if roundAdds[0].first <= maxEID {
			t.Fatalf("round %d: first eid %d reuses an id (max before %d)", round, roundAdds[0].first, maxEID)
		}
		for _, a := range roundAdds {
			maxEID = max(maxEID, a.first+uint64(a.n)-1)
		}
		adds = append(adds, roundAdds...)

		db, err := Open(dir, nil)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if moved, _ := filepath.Glob(filepath.Join(dir, "*.corrupt-*")); len(moved) != 0 {
			t.Fatalf("round %d: store moved aside after SIGKILL: %v", round, moved)
		}
		if q := storeTestPragma(t, db, "PRAGMA quick_check"); q != "ok" {
			t.Fatalf("round %d: quick_check: %s", round, q)
		}
		es, err := db.Events("process_events")
		if err != nil {
			t.Fatal(err)
		}
		stored := map[uint64]string{}
		if err := es.Scan(ctx, -1, -1, 0, func(eid uint64, _ int64, row []byte) bool {
			stored[eid] = string(row)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		for _, a := range adds {
			for j := range a.n {
				eid := a.first + uint64(j)
				if got, want := stored[eid], string(storeKillRow(a.i, j)); got != want {
					t.Fatalf("round %d: Add %d returned before the kill but eid %d holds %q, want %q", round, a.i, eid, got, want)
				}
			}
		}
		// The counter is the last update that returned, or the one after
		// it if the kill came between its commit and the print; the result
		// always matches the counter.
		cv, ok, err := db.Get(ctx, DomainQueries, "packqcounter")
		if err != nil || !ok {
			t.Fatalf("round %d: counter: %v %v", round, ok, err)
		}
		counter, _ := strconv.Atoi(string(cv))
		rv, _, _ := db.Get(ctx, DomainQueries, "packq")
		var result map[string]int
		if err := json.Unmarshal(rv, &result); err != nil || result["counter"] != counter {
			t.Fatalf("round %d: result %s does not match counter %d", round, rv, counter)
		}
		if counter != updated && counter != updated+1 {
			t.Fatalf("round %d: counter %d, last update returned %d", round, counter, updated)
		}
		if counter < lastCounter {
			t.Fatalf("round %d: counter went back from %d to %d", round, lastCounter, counter)
		}
		lastCounter = counter
		storeTestExpect(t, db, DomainConfigurations, fmt.Sprintf("parent.%d", round), "x")
		st, _ := es.Stats(ctx)
		t.Logf("round %d: %d adds returned, counter %d, %d rows stored, last eid %d", round, len(roundAdds), counter, st.Rows, st.LastEID)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
