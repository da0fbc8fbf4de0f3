package flags

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseForms(t *testing.T) {
	s := Standard()
	rest, err := s.Parse([]string{
		"--verbose", "select 1", "--logger_path=/tmp/logs", "--config_path", "/etc/x.conf",
		"-disable_events=false", "--nodisable_watchdog", "--separator=,", "--separator=;",
		"--", "--not-a-flag",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rest, []string{"select 1", "--not-a-flag"}) {
		t.Fatalf("positional %q", rest)
	}
	for name, want := range map[string]string{
		"verbose":          "true",
		"logger_path":      "/tmp/logs",
		"config_path":      "/etc/x.conf",
		"disable_events":   "false",
		"disable_watchdog": "false",
		"separator":        ";", // last wins
	} {
		if got := s.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !s.Changed("verbose") || s.Changed("utc") {
		t.Error("changed tracking")
	}
	// Aliases set the real flag.
	s.Parse([]string{"--db_path=/x/db"})
	if s.Get("database_path") != "/x/db" {
		t.Error("alias db_path")
	}
}

func TestParseErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--no_such_flag"},
		{"--audit_backlog_limit=lots"},
		{"--verbose=maybe"},
		{"--config_path"},
		{"--schedule_splay_percent=-1"},
	} {
		if _, err := Standard().Parse(args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	_, err := Standard().Parse([]string{"--bogus"})
	if err == nil || err.Error() != "unknown command line flag 'bogus'" {
		t.Errorf("message %v", err)
	}
}

func TestFlagfile(t *testing.T) {
	dir := t.TempDir()
	ff := filepath.Join(dir, "osquery.flags")
	os.WriteFile(ff, []byte("# comment\n  --logger_path=/var/log/x y\n\n--verbose\nnot-a-flag-line\n--process_ancestry_cache_size=5000\n"), 0o644)
	s := Standard()
	if _, err := s.Parse([]string{"--flagfile=" + ff, "--verbose=false"}); err != nil {
		t.Fatal(err)
	}
	if s.Get("logger_path") != "/var/log/x y" || s.Int("process_ancestry_cache_size") != 5000 || s.Bool("verbose") {
		t.Fatalf("flagfile values: %q %d %v", s.Get("logger_path"), s.Int("process_ancestry_cache_size"), s.Bool("verbose"))
	}
	if s.Get("flagfile") != ff {
		t.Errorf("flagfile recorded as %q", s.Get("flagfile"))
	}
	bad := filepath.Join(dir, "bad.flags")
	os.WriteFile(bad, []byte("--nope=1\n"), 0o644)
	if _, err := Standard().Parse([]string{"--flagfile", bad}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("bad flagfile: %v", err)
	}
	huge := filepath.Join(dir, "huge.flags")
	os.WriteFile(huge, make([]byte, maxFlagfileSize+10), 0o644)
	if err := Standard().ApplyFlagfile(huge); err == nil {
		t.Error("oversized flagfile accepted")
	}
	if _, err := Standard().Parse([]string{"--flagfile=" + filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing flagfile accepted")
	}
}

func TestConfigOptions(t *testing.T) {
	s := Standard()
	var changed []string
	s.OnChange(func(name, value string) { changed = append(changed, name+"="+value) })
	if err := s.SetOption("process_ancestry_max_depth", "8"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOption("config_path", "/tmp/x"); err == nil {
		t.Error("CLI-only flag accepted from options")
	}
	if err := s.SetOption("unknown_thing", "1"); err == nil || !strings.Contains(err.Error(), "Cannot set unknown or invalid flag: unknown_thing") {
		t.Errorf("unknown option: %v", err)
	}
	if err := s.SetOption("custom_team", "blue"); err != nil || s.Get("custom_team") != "blue" {
		t.Errorf("custom_ option: %v %q", err, s.Get("custom_team"))
	}
	if err := s.SetOption("verbose", "yes"); err != nil || s.Get("verbose") != "true" {
		t.Errorf("bool normalisation: %v %q", err, s.Get("verbose"))
	}
	if !slices.Equal(changed, []string{"process_ancestry_max_depth=8", "verbose=true"}) {
		t.Errorf("watchers saw %q", changed)
	}
}

func TestAllIsSortedAndTyped(t *testing.T) {
	all := Standard().All()
	if !slices.IsSortedFunc(all, func(a, b Info) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatal("All not sorted")
	}
	for _, f := range all {
		if _, err := normalize(&f.Def, f.Default); err != nil {
			t.Errorf("default of %s does not parse: %v", f.Name, err)
		}
	}
}
