package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Event is one line of a `go test -json` stream. Most lines are test2json
// TestEvents; since Go 1.24 the build's own output comes in the same stream
// as BuildEvents ("build-output", "build-fail"), keyed by ImportPath rather
// than Package. Time and Elapsed are left out: everything plain go test
// would print is already in Output.
type Event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string // build events only
	FailedBuild string // set on a package's "fail" when its build failed
}

// Report turns a `go test -json` stream back into what plain go test prints,
// minus passing tests, and ends with every skipped test and why. Plain go
// test says nothing about skips, so a run where the root-only tests all
// skipped looks as green as one where they ran.
//
// Test output is held until the test ends, because only then is it known
// whether anyone wants to read it; parallel tests interleave, and holding
// it per test also untangles them.
type Report struct {
	w      io.Writer
	prefix string // module path plus "/", trimmed from package names in SKIP lines

	pkgs  map[string]*pkgState // packages that have not ended
	build map[string]string    // build output by ImportPath, shown only if that build fails

	skips                    []skip
	passed, failed, packages int
	anyFailed                bool // a package or build failed, not only a test
}

// pkgState is what a running package has printed so far.
type pkgState struct {
	out   strings.Builder             // package-level output: result line, crash text
	tests map[string]*strings.Builder // output of tests that have not ended
	order []string                    // test names in the order they started
}

type skip struct{ pkg, test, reason string }

// NewReport returns a Report writing to w that names packages relative to
// module in its SKIP lines.
func NewReport(w io.Writer, module string) *Report {
	return &Report{
		w:      w,
		prefix: module + "/",
		pkgs:   map[string]*pkgState{},
		build:  map[string]string{},
	}
}

// Feed adds the events of a `go test -json` stream in order until EOF. A
// line that is not an event is printed as it is: go test may print plain
// text when something goes badly wrong, and that text is the diagnosis.
func (r *Report) Feed(rd io.Reader) error {
	br := bufio.NewReader(rd) // not a Scanner: a test may print a line of any length
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var e Event
			if json.Unmarshal(line, &e) == nil && e.Action != "" {
				r.Add(e)
			} else {
				r.w.Write(line)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Add takes one event, printing whatever it completes.
func (r *Report) Add(e Event) {
	switch e.Action {
	case "build-output":
		r.build[e.ImportPath] += e.Output
		return
	case "build-fail":
		r.anyFailed = true
		r.printBuild(e.ImportPath)
		return
	}
	p := r.pkg(e.Package)
	if e.Test == "" {
		switch e.Action {
		case "output":
			p.out.WriteString(e.Output)
		case "pass", "fail", "skip":
			r.endPackage(e)
		}
		return
	}
	switch e.Action {
	case "run", "output":
		p.test(e.Test).WriteString(e.Output)
	case "pass":
		r.passed++
		delete(p.tests, e.Test)
	case "fail":
		r.failed++
		io.WriteString(r.w, p.test(e.Test).String())
		delete(p.tests, e.Test)
	case "skip":
		reason := skipReason(p.test(e.Test).String())
		r.skips = append(r.skips, skip{strings.TrimPrefix(e.Package, r.prefix), e.Test, reason})
		delete(p.tests, e.Test)
	case "bench":
		delete(p.tests, e.Test)
	}
}

func (r *Report) pkg(name string) *pkgState {
	p := r.pkgs[name]
	if p == nil {
		p = &pkgState{tests: map[string]*strings.Builder{}}
		r.pkgs[name] = p
	}
	return p
}

func (p *pkgState) test(name string) *strings.Builder {
	b := p.tests[name]
	if b == nil {
		b = new(strings.Builder)
		p.tests[name] = b
		p.order = append(p.order, name)
	}
	return b
}

// printBuild prints a failed build's output once, however many test
// packages the broken package takes down with it.
func (r *Report) printBuild(importPath string) {
	io.WriteString(r.w, r.build[importPath])
	delete(r.build, importPath)
}

// endPackage prints what a package printed outside its tests, which is the
// one-line result plain go test gives and, if the test binary died, why.
func (r *Report) endPackage(e Event) {
	p := r.pkgs[e.Package]
	delete(r.pkgs, e.Package)
	r.packages++
	if e.Action == "fail" {
		r.anyFailed = true
		if e.FailedBuild != "" {
			r.printBuild(e.FailedBuild)
		}
		// A binary that panicked outside the test goroutine, timed out or
		// called os.Exit leaves its running tests without a result; their
		// output holds the crash, and they did not pass.
		for _, name := range p.order {
			if out, ok := p.tests[name]; ok {
				r.failed++
				io.WriteString(r.w, out.String())
				delete(p.tests, name)
			}
		}
	}
	for _, line := range strings.SplitAfter(p.out.String(), "\n") {
		// Plain go test hides these two for a package that passed;
		// for one that failed the binary prints FAIL instead.
		if line != "PASS\n" && line != "testing: warning: no tests to run\n" {
			io.WriteString(r.w, line)
		}
	}
}

// Finish ends packages go test never finished (it was interrupted or
// killed), printing what they had, then prints the skipped tests and the
// totals.
func (r *Report) Finish() {
	for _, name := range slices.Sorted(maps.Keys(r.pkgs)) {
		r.endPackage(Event{Action: "fail", Package: name})
	}
	// Packages end in whatever order they finish; sort them so two runs
	// can be compared, but keep each package's tests in source order.
	slices.SortStableFunc(r.skips, func(a, b skip) int { return cmp.Compare(a.pkg, b.pkg) })
	count := map[string]int{}
	for _, s := range r.skips {
		fmt.Fprintf(r.w, "SKIP %s.%s: %s\n", s.pkg, s.test, s.reason)
		count[s.reason]++
	}
	reasons := slices.SortedFunc(maps.Keys(count), func(a, b string) int {
		return cmp.Or(cmp.Compare(count[b], count[a]), cmp.Compare(a, b))
	})
	groups := make([]string, len(reasons))
	for i, reason := range reasons {
		groups[i] = fmt.Sprintf("%s (%d)", reason, count[reason])
	}
	fmt.Fprintf(r.w, "skipped %d tests", len(r.skips))
	if len(groups) > 0 {
		fmt.Fprintf(r.w, ": %s", strings.Join(groups, "; "))
	}
	fmt.Fprintf(r.w, "\npassed %d, failed %d, skipped %d tests in %d packages\n",
		r.passed, r.failed, len(r.skips), r.packages)
}

// Failed reports whether anything failed: a test, a package (which may fail
// with no failing test, say from a crash in init) or a build.
func (r *Report) Failed() bool { return r.anyFailed || r.failed > 0 }

// logLine matches a t.Log line in chatty output, "    file_test.go:12: msg".
// Continuation lines of a multi-line message are indented further and do
// not match.
var logLine = regexp.MustCompile(`^    \S.*?:\d+: ?(.*)$`)

// skipReason finds why a test skipped: t.Skip logs its message like t.Log,
// so it is the last log line before "--- SKIP". A multi-line message is
// cut to its first line and " ...", so that SKIP lines stay one line each.
func skipReason(out string) string {
	reason, found, more := "", false, false
	for line := range strings.Lines(out) {
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(strings.TrimLeft(line, " "), "--- SKIP: ") {
			break
		}
		if m := logLine.FindStringSubmatch(line); m != nil {
			reason, found, more = m[1], true, false
		} else if found && strings.HasPrefix(line, "        ") {
			more = true
		}
	}
	if reason == "" {
		return "no reason given"
	}
	if more {
		reason += " ..."
	}
	return reason
}
