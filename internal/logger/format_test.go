package logger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/logging"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// testEnv is the envelope of the golden files.
func testEnv() *Envelope {
	return &Envelope{
		Name:           "pack_it_processes",
		HostIdentifier: "host-1",
		CalendarTime:   CalendarTime(time.Unix(1736166896, 0)),
		UnixTime:       1736166896,
		Epoch:          0,
		Counter:        3,
		Decorations:    []Decoration{{"username", "root"}, {"host_uuid", "4C4C4544-0031"}},
	}
}

func procRow(pid int64, name string) Row {
	return Row{{"pid", Int(pid)}, {"name", Text(name)}, {"uid", Int(0)}}
}

// typedRow has one cell of every storage class, in SELECT (unsorted) order.
func typedRow() Row {
	return Row{
		{"text", Text("/usr/bin/x")},
		{"int", Int(-42)},
		{"big", Int(math.MaxInt64)},
		{"real_whole", Real(3)},
		{"real_frac", Real(0.1)},
		{"real_third", Real(1.0 / 3)},
		{"real_big", Real(1e21)},
		{"real_small", Real(1.5e-7)},
		{"real_negzero", Real(math.Copysign(0, -1))},
		{"real_inf", Real(math.Inf(1))},
		{"null", Null()},
		{"blob", Blob([]byte{'a', 0, 0xff})},
	}
}

// lines runs a line-per-row formatter and joins its output with newlines.
func lines(t *testing.T, run func(func([]byte) error) error) []byte {
	t.Helper()
	var out []byte
	if err := run(func(line []byte) error {
		out = append(append(out, line...), '\n')
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func one(b []byte) []byte { return append(b, '\n') }

func TestGolden(t *testing.T) {
	weird := "ctl\x01\x1f tab\t nl\n quote\" back\\ del\x7f bad\xff\xc3( trunc\xe2\x82 surrogate\xed\xa0\x80 ok\u00e9\u2713\U0001F600"
	cases := map[string]func(t *testing.T) []byte{
		// The spec's example shape, two added and one removed row.
		"event_basic": func(t *testing.T) []byte {
			return lines(t, func(emit func([]byte) error) error {
				return EventLines(testEnv(), Diff{
					Added:   []Row{procRow(1, "init"), procRow(42, "sshd")},
					Removed: []Row{procRow(7, "old")},
				}, emit)
			})
		},
		"event_numerics": func(t *testing.T) []byte {
			env := testEnv()
			env.Numerics = true
			return lines(t, func(emit func([]byte) error) error {
				return EventLines(env, Diff{Added: []Row{typedRow()}}, emit)
			})
		},
		"event_strings": func(t *testing.T) []byte {
			return lines(t, func(emit func([]byte) error) error {
				return EventLines(testEnv(), Diff{Added: []Row{typedRow()}}, emit)
			})
		},
		"event_no_decorations": func(t *testing.T) []byte {
			env := testEnv()
			env.Decorations = nil
			return lines(t, func(emit func([]byte) error) error {
				return EventLines(env, Diff{Removed: []Row{procRow(1, "init")}}, emit)
			})
		},
		"event_decorations_top_level": func(t *testing.T) []byte {
			env := testEnv()
			env.DecorationsTopLevel = true
			return lines(t, func(emit func([]byte) error) error {
				return EventLines(env, Diff{Added: []Row{procRow(1, "init")}}, emit)
			})
		},
		// Decorations named like reserved keys replace them with
		// RapidJSON's RemoveMember, which moves the last member into the
		// freed slot.
		"event_decorations_top_level_collide": func(t *testing.T) []byte {
			env := testEnv()
			env.DecorationsTopLevel = true
			env.Decorations = []Decoration{{"name", "decorated"}, {"action", "dec-action"}, {"columns", "dec-columns"}, {"zz", "last"}}
			return lines(t, func(emit func([]byte) error) error {
				return EventLines(env, Diff{Added: []Row{procRow(1, "init")}}, emit)
			})
		},
		"event_unicode_control": func(t *testing.T) []byte {
			return lines(t, func(emit func([]byte) error) error {
				return EventLines(testEnv(), Diff{Added: []Row{{{"path", Text(weird)}, {"blob", Blob([]byte{0, 1, 0x80, 'z'})}}}}, emit)
			})
		},
		// Columns out of order and a name selected twice: sorted, last wins.
		"event_unsorted_duplicates": func(t *testing.T) []byte {
			return lines(t, func(emit func([]byte) error) error {
				return EventLines(testEnv(), Diff{Added: []Row{{{"z", Text("1")}, {"a", Text("first")}, {"m", Int(2)}, {"a", Text("second")}}}}, emit)
			})
		},
		"event_nullvalue": func(t *testing.T) []byte {
			env := testEnv()
			env.NullValue = "NULL\x01"
			env.Numerics = true
			return lines(t, func(emit func([]byte) error) error {
				return EventLines(env, Diff{Added: []Row{{{"n", Null()}}}}, emit)
			})
		},
		"event_empty_diff": func(t *testing.T) []byte {
			return lines(t, func(emit func([]byte) error) error {
				return EventLines(testEnv(), Diff{}, emit)
			})
		},
		"batch_basic": func(t *testing.T) []byte {
			return one(AppendBatch(nil, testEnv(), Diff{
				Added:   []Row{procRow(1, "init"), procRow(42, "sshd")},
				Removed: []Row{procRow(7, "old")},
			}))
		},
		"batch_empty_removed": func(t *testing.T) []byte {
			return one(AppendBatch(nil, testEnv(), Diff{Added: []Row{procRow(1, "init")}}))
		},
		"batch_empty_added": func(t *testing.T) []byte {
			return one(AppendBatch(nil, testEnv(), Diff{Removed: []Row{procRow(1, "init")}}))
		},
		"batch_empty_both": func(t *testing.T) []byte {
			return one(AppendBatch(nil, testEnv(), Diff{}))
		},
		"batch_numerics_top_level": func(t *testing.T) []byte {
			env := testEnv()
			env.Numerics = true
			env.DecorationsTopLevel = true
			env.Decorations = append(env.Decorations, Decoration{"diffResults", "clobbered"})
			return one(AppendBatch(nil, env, Diff{Added: []Row{typedRow()}}))
		},
		"snapshot_basic": func(t *testing.T) []byte {
			env := testEnv()
			env.Counter = 0
			return one(AppendSnapshot(nil, env, []Row{procRow(1, "init"), procRow(42, "sshd")}))
		},
		"snapshot_empty": func(t *testing.T) []byte {
			env := testEnv()
			env.Counter = 0
			return one(AppendSnapshot(nil, env, nil))
		},
		"snapshot_numerics": func(t *testing.T) []byte {
			env := testEnv()
			env.Counter = 0
			env.Numerics = true
			return one(AppendSnapshot(nil, env, []Row{typedRow()}))
		},
		// Snapshots are not escaped by osquery: control characters get
		// JSON escapes, invalid UTF-8 becomes U+FFFD here.
		"snapshot_unicode_control": func(t *testing.T) []byte {
			env := testEnv()
			env.Counter = 0
			return one(AppendSnapshot(nil, env, []Row{{{"path", Text(weird)}}}))
		},
		"snapshot_top_level_action": func(t *testing.T) []byte {
			env := testEnv()
			env.Counter = 0
			env.DecorationsTopLevel = true
			env.Decorations = []Decoration{{"action", "dec"}}
			return one(AppendSnapshot(nil, env, []Row{procRow(1, "init")}))
		},
		"snapshot_events": func(t *testing.T) []byte {
			env := testEnv()
			env.Counter = 0
			return lines(t, func(emit func([]byte) error) error {
				return SnapshotEventLines(env, []Row{procRow(1, "init"), procRow(42, "sshd\n")}, emit)
			})
		},
		"snapshot_events_empty": func(t *testing.T) []byte {
			return lines(t, func(emit func([]byte) error) error {
				return SnapshotEventLines(testEnv(), nil, emit)
			})
		},
		"status_json": func(t *testing.T) []byte {
			env := &StatusEnvelope{HostIdentifier: "host-1", Version: "5.23.0", Decorations: testEnv().Decorations}
			return one(AppendStatusJSON(nil, testStatus(), env))
		},
		"status_json_top_level": func(t *testing.T) []byte {
			env := &StatusEnvelope{HostIdentifier: "host-1", Version: "5.23.0", DecorationsTopLevel: true,
				Decorations: []Decoration{{"message", "dec"}, {"host_uuid", "u"}}}
			return one(AppendStatusJSON(nil, testStatus(), env))
		},
		"status_json_no_decorations": func(t *testing.T) []byte {
			return one(AppendStatusJSON(nil, testStatus(), &StatusEnvelope{HostIdentifier: "h", Version: "5.23.0"}))
		},
		"status_stdout": func(t *testing.T) []byte {
			return one(AppendStdoutStatus(nil, testStatus()))
		},
	}
	for name, run := range cases {
		t.Run(name, func(t *testing.T) {
			got := run(t)
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s\ngot:\n%s\nwant:\n%s", path, got, want)
			}
			// Every line must be a JSON object (the stdout status line is
			// plain text by design).
			if strings.HasPrefix(name, "status_stdout") {
				return
			}
			sc := bufio.NewScanner(bytes.NewReader(got))
			for sc.Scan() {
				var v map[string]any
				if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
					t.Errorf("not JSON: %v: %s", err, sc.Bytes())
				}
			}
		})
	}
}

func testStatus() logging.Status {
	return logging.Status{
		Severity: logging.Warning,
		File:     "scheduler.cpp",
		Line:     84,
		Message:  `Executing scheduled query "q": /bin/x`,
		Time:     time.Date(2025, 1, 6, 12, 34, 56, 789000000, time.UTC),
	}
}

// TestEventBasicExact spells one line out, so the golden files are
// anchored to osquery's documented shape and not only to themselves.
func TestEventBasicExact(t *testing.T) {
	env := &Envelope{Name: "q", HostIdentifier: "h", CalendarTime: "Mon Jan  6 12:34:56 2025 UTC", UnixTime: 1736166896, Counter: 3,
		Decorations: []Decoration{{"host_uuid", "u"}}}
	var got []string
	err := EventLines(env, Diff{Added: []Row{{{"pid", Int(1)}, {"name", Text("init")}}}, Removed: []Row{{{"pid", Int(2)}}}},
		func(l []byte) error { got = append(got, string(l)); return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"name":"q","hostIdentifier":"h","calendarTime":"Mon Jan  6 12:34:56 2025 UTC","unixTime":1736166896,"epoch":0,"counter":3,"numerics":false,"decorations":{"host_uuid":"u"},"columns":{"pid":"2"},"action":"removed"}`,
		`{"name":"q","hostIdentifier":"h","calendarTime":"Mon Jan  6 12:34:56 2025 UTC","unixTime":1736166896,"epoch":0,"counter":3,"numerics":false,"decorations":{"host_uuid":"u"},"columns":{"name":"init","pid":"1"},"action":"added"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	batch := string(AppendBatch(nil, env, Diff{Added: []Row{{{"pid", Int(1)}}}}))
	if want := `{"diffResults":{"removed":[],"added":[{"pid":"1"}]},"name":"q","hostIdentifier":"h","calendarTime":"Mon Jan  6 12:34:56 2025 UTC","unixTime":1736166896,"epoch":0,"counter":3,"numerics":false,"decorations":{"host_uuid":"u"}}`; batch != want {
		t.Fatalf("batch\n%s\nwant\n%s", batch, want)
	}
	snap := string(AppendSnapshot(nil, &Envelope{Name: "s", Numerics: true}, []Row{{{"r", Real(2)}, {"i", Int(5)}}}))
	if want := `{"snapshot":[{"i":5,"r":2.0}],"action":"snapshot","name":"s","hostIdentifier":"","calendarTime":"","unixTime":0,"epoch":0,"counter":0,"numerics":true}`; snap != want {
		t.Fatalf("snapshot\n%s\nwant\n%s", snap, want)
	}
}

func TestTopLevelReorder(t *testing.T) {
	// RapidJSON: replacing "name" (slot 0) moves the last member, "numerics",
	// into slot 0 and appends the decoration.
	env := &Envelope{Name: "q", DecorationsTopLevel: true, Decorations: []Decoration{{"name", "d"}}}
	got := string(AppendSnapshot(nil, env, nil))
	want := `{"snapshot":[],"action":"snapshot","numerics":false,"hostIdentifier":"","calendarTime":"","unixTime":0,"epoch":0,"counter":0,"name":"d"}`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestCalendarTime(t *testing.T) {
	for in, want := range map[time.Time]string{
		time.Date(2025, 1, 6, 12, 34, 56, 0, time.UTC):                      "Mon Jan  6 12:34:56 2025 UTC",
		time.Date(2024, 11, 27, 0, 16, 16, 999, time.UTC):                   "Wed Nov 27 00:16:16 2024 UTC",
		time.Date(2025, 1, 6, 23, 0, 0, 0, time.FixedZone("x", -2*3600)):    "Tue Jan  7 01:00:00 2025 UTC",
		time.Date(2025, 12, 31, 23, 59, 59, 0, time.FixedZone("y", 5*3600)): "Wed Dec 31 18:59:59 2025 UTC",
	} {
		if got := CalendarTime(in); got != want {
			t.Errorf("%v: got %q want %q", in, got, want)
		}
	}
}

func TestEscapeNonPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain /usr/bin":          "plain /usr/bin",
		"tab\tnl\n":               `tab\x09nl\x0A`,
		"\x00\x1f\x7f":            `\x00\x1F` + "\x7f",
		"héllo ✓ 😀":               "héllo ✓ 😀",
		"bad\xff\xfe":             `bad\xFF\xFE`,
		"\xc3(":                   `\xC3(`,
		"\xe2\x82":                `\xE2\x82`,
		"\xe2\x82\xac":            "€",
		"\xed\xa0\x80":            `\xED\xA0\x80`, // surrogate
		"\xc0\xaf":                `\xC0\xAF`,     // overlong
		"\xf4\x90\x80\x80":        `\xF4\x90\x80\x80`,
		"\xf0\x9f\x98":            `\xF0\x9F\x98`,
		`already \x0A escaped`:    `already \x0A escaped`,
		"":                        "",
		"quote\" and back\\slash": "quote\" and back\\slash",
	} {
		got := EscapeNonPrintable(in)
		if got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
		if EscapeNonPrintable(got) != got {
			t.Errorf("%q: escaping is not idempotent", in)
		}
		// The one-pass JSON form must equal escape-then-JSON.
		var back string
		if err := json.Unmarshal(appendEscapedJSON(nil, in), &back); err != nil || back != want {
			t.Errorf("%q: JSON form decodes to %q (%v), want %q", in, back, err, want)
		}
	}
}

func FuzzEscapeNonPrintable(f *testing.F) {
	f.Add("a\x00b\xffc\xe2\x82\xac\"\\")
	f.Fuzz(func(t *testing.T, s string) {
		got := EscapeNonPrintable(s)
		if !utf8Valid(got) {
			t.Fatalf("%q -> %q not valid UTF-8", s, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] < 0x20 {
				t.Fatalf("%q -> %q keeps a control byte", s, got)
			}
		}
		if EscapeNonPrintable(got) != got {
			t.Fatalf("%q: not idempotent", s)
		}
		var back string
		if err := json.Unmarshal(appendEscapedJSON(nil, s), &back); err != nil || back != got {
			t.Fatalf("%q: JSON form %q (%v)", s, back, err)
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// TestFormatRealOracle checks FormatReal against std::ostream at precision
// 15, recorded with RapidJSON's output in ../jsonw/testdata/doubles.txt.
func TestFormatRealOracle(t *testing.T) {
	f, err := os.Open("../jsonw/testdata/doubles.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		b, _ := strconv.ParseUint(fields[0], 16, 64)
		want := fields[2]
		if !strings.Contains(want, ".") {
			want += ".0"
		}
		if got := FormatReal(math.Float64frombits(b)); got != want {
			t.Errorf("%s: got %s want %s", fields[0], got, want)
		}
		n++
	}
	if n < 5000 {
		t.Fatalf("only %d lines", n)
	}
	for v, want := range map[float64]string{math.Inf(1): "inf.0", math.Inf(-1): "-inf.0", 3: "3.0", 1e20: "1e+20.0", 3.53: "3.53"} {
		if got := FormatReal(v); got != want {
			t.Errorf("%v: got %s want %s", v, got, want)
		}
	}
}

func TestEmitErrorStops(t *testing.T) {
	calls := 0
	err := EventLines(testEnv(), Diff{Added: []Row{procRow(1, "a"), procRow(2, "b")}}, func([]byte) error {
		calls++
		return os.ErrClosed
	})
	if err != os.ErrClosed || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

// FuzzFormats checks that arbitrary names and values always give JSON
// lines, and that the differential formats keep no control byte or invalid
// UTF-8 in cell values.
func FuzzFormats(f *testing.F) {
	f.Add("name", "value\x00\xff", "dec", 1.5, int64(-3), true)
	f.Add("action", "columns", "name", math.Inf(1), int64(0), false)
	f.Fuzz(func(t *testing.T, col, val, dec string, real float64, i int64, flag bool) {
		env := &Envelope{Name: val, HostIdentifier: dec, Numerics: flag, DecorationsTopLevel: !flag,
			Decorations: []Decoration{{dec, val}, {col, dec}}}
		row := Row{{col, Text(val)}, {val, Real(real)}, {dec, Int(i)}, {col + "x", Blob([]byte(val))}, {"n", Null()}}
		check := func(line []byte) error {
			if !json.Valid(line) {
				t.Fatalf("invalid JSON %q", line)
			}
			return nil
		}
		EventLines(env, Diff{Added: []Row{row}, Removed: []Row{row}}, check)
		SnapshotEventLines(env, []Row{row}, check)
		check(AppendBatch(nil, env, Diff{Added: []Row{row}}))
		check(AppendSnapshot(nil, env, []Row{row}))
		check(AppendStatusJSON(nil, logging.Status{File: col, Message: val}, &StatusEnvelope{Decorations: env.Decorations, DecorationsTopLevel: flag}))
		var cols map[string]any
		if err := json.Unmarshal(AppendRow(nil, env, row, true), &cols); err != nil {
			t.Fatal(err)
		}
		for k, v := range cols {
			if s, ok := v.(string); ok && needsEscape(s) {
				t.Fatalf("column %q keeps unescaped bytes: %q", k, s)
			}
		}
	})
}
