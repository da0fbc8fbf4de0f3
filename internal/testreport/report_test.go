package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// The streams in testdata are real `go test -json -count=1` output from a
// throwaway module example.com/trmod (timeout.jsonl and all.jsonl with
// -timeout 2s and 5s), one package per file and all.jsonl for ./... .
// Each .golden holds the report expected for it; check a diff before
// accepting -update.
func TestGolden(t *testing.T) {
	wantFailed := map[string]bool{
		"pass":      false,
		"skip":      false,
		"notests":   false,
		"fail":      true,
		"buildfail": true,
		"setupfail": true,
		"panics":    true,
		"timeout":   true,
		"exits":     true,
		"all":       true,
	}
	for name, failed := range wantFailed {
		t.Run(name, func(t *testing.T) {
			in, err := os.Open(filepath.Join("testdata", name+".jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			var out bytes.Buffer
			r := NewReport(&out, "example.com/trmod")
			if err := r.Feed(in); err != nil {
				t.Fatal(err)
			}
			r.Finish()
			if r.Failed() != failed {
				t.Errorf("Failed() = %v, want %v", r.Failed(), failed)
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != string(want) {
				t.Errorf("report differs from %s\ngot:\n%s\nwant:\n%s", golden, out.String(), want)
			}
		})
	}
}

// TestSkipSummary spells out the end of the skip report here, so that
// what it says is reviewable without opening a golden file.
func TestSkipSummary(t *testing.T) {
	in, err := os.Open("testdata/skip.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	r := NewReport(&out, "example.com/trmod")
	if err := r.Feed(in); err != nil {
		t.Fatal(err)
	}
	r.Finish()
	want := `ok  	example.com/trmod/skip	0.003s
SKIP skip.TestNeedsRoot: needs root
SKIP skip.TestAlsoNeedsRoot: needs root
SKIP skip.TestSub/darwin: not on linux
SKIP skip.TestLogThenSkip: no /dev/kvm
SKIP skip.TestMultiline: first line of reason ...
SKIP skip.TestSkipNow: no reason given
skipped 6 tests: needs root (2); first line of reason ... (1); no /dev/kvm (1); no reason given (1); not on linux (1)
passed 3, failed 0, skipped 6 tests in 1 packages
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestSkipReason(t *testing.T) {
	for _, tc := range []struct{ out, want string }{
		{"=== RUN   TestA\n    a_test.go:3: needs root\n--- SKIP: TestA (0.00s)\n", "needs root"},
		{"=== RUN   TestA\n    a_test.go:3: one\n    a_test.go:4: two\n--- SKIP: TestA (0.00s)\n", "two"},
		{"    a_test.go:3: one\n        more\n--- SKIP: TestA (0.00s)\n", "one ..."},
		{"    a_test.go:3: why\n--- SKIP: TestA (0.00s)\n    a_test.go:9: after\n", "why"},
		{"    /abs/dir/a_test.go:3: full path: kept\n--- SKIP: TestA (0.00s)\n", "full path: kept"},
		{"=== RUN   TestA\nplain print\n--- SKIP: TestA (0.00s)\n", "no reason given"},
		{"", "no reason given"},
	} {
		if got := skipReason(tc.out); got != tc.want {
			t.Errorf("skipReason(%q) = %q, want %q", tc.out, got, tc.want)
		}
	}
}

// TestNonJSONLine checks that text go test prints outside the JSON stream
// reaches the reader rather than vanishing.
func TestNonJSONLine(t *testing.T) {
	var out bytes.Buffer
	r := NewReport(&out, "m")
	if err := r.Feed(strings.NewReader("go: something went wrong\n")); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "go: something went wrong\n") {
		t.Errorf("got %q", out.String())
	}
}

// TestEndToEnd builds the command and runs it, so that the process
// handling (inserting -json, exit status, start failure) is tested too.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs go test on a module of its own")
	}
	bin := filepath.Join(t.TempDir(), "testreport")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		name, test string
		wantCode   int
		wantLines  []string
	}{
		{
			name:     "passing",
			test:     `func TestOK(t *testing.T) {}` + "\n" + `func TestSkip(t *testing.T) { t.Skip("not today") }`,
			wantCode: 0,
			wantLines: []string{
				"SKIP example.com/e2e.TestSkip: not today",
				"skipped 1 tests: not today (1)",
				"passed 1, failed 0, skipped 1 tests in 1 packages",
			},
		},
		{
			name:     "failing",
			test:     `func TestBad(t *testing.T) { t.Error("broken on purpose") }`,
			wantCode: 1,
			wantLines: []string{
				"    e2e_test.go:5: broken on purpose",
				"--- FAIL: TestBad (0.00s)",
				"skipped 0 tests",
				"passed 0, failed 1, skipped 0 tests in 1 packages",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/e2e\n\ngo 1.26\n")
			writeFile(t, filepath.Join(dir, "e2e_test.go"), "package e2e\n\nimport \"testing\"\n\n"+tc.test+"\n")
			cmd := exec.Command(bin, "--", "-count=1", "./...")
			cmd.Dir = dir
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, &stdout, &stderr)
			}
			lines := strings.Split(stdout.String(), "\n")
			for _, want := range tc.wantLines {
				if !slices.Contains(lines, want) {
					t.Errorf("no line %q in output:\n%s", want, &stdout)
				}
			}
		})
	}

	t.Run("no go", func(t *testing.T) {
		cmd := exec.Command(bin, "--", "./...")
		cmd.Env = append(os.Environ(), "PATH="+t.TempDir())
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 {
			t.Errorf("exit code %d, want 2; output:\n%s", code, out)
		}
		if !strings.Contains(string(out), "cannot run go test") {
			t.Errorf("output does not say why: %s", out)
		}
	})
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
