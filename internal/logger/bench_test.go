package logger

import (
	"encoding/json"
	"fmt"
	"testing"
)

// benchRows returns n processes-like rows in SELECT (unsorted) order.
func benchRows(n int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = Row{
			{"pid", Int(int64(1000 + i))},
			{"name", Text(fmt.Sprintf("worker-%d", i%97))},
			{"path", Text("/usr/lib/systemd/systemd-journald")},
			{"cmdline", Text(fmt.Sprintf("/usr/bin/python3 -m http.server %d --bind 127.0.0.1", 8000+i%1000))},
			{"state", Text("S")},
			{"cwd", Text("/")},
			{"root", Text("/")},
			{"uid", Int(int64(i % 5))},
			{"gid", Int(0)},
			{"parent", Int(1)},
			{"start_time", Int(1736166896 - int64(i))},
			{"resident_size", Int(int64(i) * 4096)},
			{"user_time", Int(int64(i % 300))},
			{"threads", Int(int64(1 + i%8))},
		}
	}
	return rows
}

// BenchmarkEventLines formats a 10,000-row differential (5,000 removed,
// 5,000 added) in the event format: one line per row.
func BenchmarkEventLines(b *testing.B) {
	rows := benchRows(10000)
	env := testEnv()
	d := Diff{Removed: rows[:5000], Added: rows[5000:]}
	var total int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		total = 0
		err := EventLines(env, d, func(line []byte) error {
			total += int64(len(line)) + 1
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(total)
}

type jsonEvent struct {
	Name           string            `json:"name"`
	HostIdentifier string            `json:"hostIdentifier"`
	CalendarTime   string            `json:"calendarTime"`
	UnixTime       uint64            `json:"unixTime"`
	Epoch          uint64            `json:"epoch"`
	Counter        uint64            `json:"counter"`
	Numerics       bool              `json:"numerics"`
	Decorations    map[string]string `json:"decorations,omitempty"`
	Columns        map[string]string `json:"columns"`
	Action         string            `json:"action"`
}

// BenchmarkEventLinesEncodingJSON produces the same lines with
// encoding/json from rows already converted to map[string]string (the
// conversion is not timed, which favours encoding/json). Its output differs
// in escaping (<, >, & as \u003c...) and ignores osquery's \xHH rule.
func BenchmarkEventLinesEncodingJSON(b *testing.B) {
	rows := benchRows(10000)
	env := testEnv()
	decs := map[string]string{}
	for _, d := range env.Decorations {
		decs[d.Name] = d.Value
	}
	maps := make([]map[string]string, len(rows))
	for i, r := range rows {
		m := make(map[string]string, len(r))
		for _, c := range r {
			if c.Value.Kind == KindInteger {
				m[c.Name] = fmt.Sprint(c.Value.Int)
			} else {
				m[c.Name] = c.Value.Str
			}
		}
		maps[i] = m
	}
	var total int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		total = 0
		for j, m := range maps {
			action := "added"
			if j < 5000 {
				action = "removed"
			}
			line, err := json.Marshal(jsonEvent{
				Name: env.Name, HostIdentifier: env.HostIdentifier, CalendarTime: env.CalendarTime,
				UnixTime: env.UnixTime, Epoch: env.Epoch, Counter: env.Counter, Numerics: env.Numerics,
				Decorations: decs, Columns: m, Action: action,
			})
			if err != nil {
				b.Fatal(err)
			}
			total += int64(len(line)) + 1
		}
	}
	b.SetBytes(total)
}

// TestBenchEquivalent checks that both benchmarks produce the same lines
// for the benchmark's rows (which need no escaping), so they compare like
// with like.
func TestBenchEquivalent(t *testing.T) {
	rows := benchRows(50)
	env := testEnv()
	var ours []string
	EventLines(env, Diff{Added: rows}, func(l []byte) error { ours = append(ours, string(l)); return nil })
	decs := map[string]string{}
	for _, d := range env.Decorations {
		decs[d.Name] = d.Value
	}
	for i, r := range rows {
		m := map[string]string{}
		for _, c := range r {
			if c.Value.Kind == KindInteger {
				m[c.Name] = fmt.Sprint(c.Value.Int)
			} else {
				m[c.Name] = c.Value.Str
			}
		}
		line, _ := json.Marshal(jsonEvent{Name: env.Name, HostIdentifier: env.HostIdentifier, CalendarTime: env.CalendarTime,
			UnixTime: env.UnixTime, Epoch: env.Epoch, Counter: env.Counter, Decorations: decs, Columns: m, Action: "added"})
		if string(line) != ours[i] {
			t.Fatalf("row %d:\n%s\n%s", i, line, ours[i])
		}
	}
}

func BenchmarkBatch(b *testing.B) {
	rows := benchRows(10000)
	env := testEnv()
	d := Diff{Removed: rows[:5000], Added: rows[5000:]}
	var buf []byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendBatch(buf[:0], env, d)
	}
	b.SetBytes(int64(len(buf)))
}
