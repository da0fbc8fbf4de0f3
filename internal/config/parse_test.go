package config

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/flags"
)

// testOptions are osquery's defaults with a fixed host ("localhost" is
// shard 20) and an options recorder.
func testOptions(set *[]string) ParseOptions {
	o := DefaultParseOptions()
	o.Hostname = "localhost"
	if set != nil {
		o.SetOption = func(name, value string) error {
			*set = append(*set, name+"="+value)
			return nil
		}
	}
	return o
}

func parseText(t *testing.T, text string, o ParseOptions) (*Config, []Warning) {
	t.Helper()
	cfg, warns, err := Parse(map[string][]byte{"/etc/osquery/osquery.conf": []byte(text)}, o)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg, warns
}

// messages lists the warnings of one level.
func messages(ws []Warning, level slog.Level) []string {
	var out []string
	for _, w := range ws {
		if w.Level == level {
			out = append(out, w.Message)
		}
	}
	return out
}

func queryNames(qs []*Query) []string {
	var out []string
	for _, q := range qs {
		out = append(out, q.Name)
	}
	return out
}

func TestProductExampleConfig(t *testing.T) {
	data, err := os.ReadFile("testdata/product_example.conf")
	if err != nil {
		t.Fatal(err)
	}
	fs := flags.Standard()
	o := OptionsFromFlags(fs)
	o.Hostname = "localhost"
	cfg, warns, err := Parse(map[string][]byte{"/etc/osquery/osquery.conf": data}, o)
	if err != nil {
		t.Fatal(err)
	}
	// Exactly what osquery prints: the three CLI-only flags.
	want := []string{
		"The CLI only flag --config_plugin set via config file will be ignored, please use a flagfile or pass it to the process at startup",
		"The CLI only flag --logger_plugin set via config file will be ignored, please use a flagfile or pass it to the process at startup",
		"The CLI only flag --database_path set via config file will be ignored, please use a flagfile or pass it to the process at startup",
	}
	if got := messages(warns, slog.LevelWarn); !slices.Equal(got, want) {
		t.Errorf("warnings:\n%s", strings.Join(got, "\n"))
	}
	if len(messages(warns, slog.LevelError)) != 0 {
		t.Errorf("errors: %v", warns)
	}
	for name, want := range map[string]string{
		"logger_path":                 "/var/log/osquery",
		"verbose":                     "true",
		"audit_allow_config":          "true",
		"disable_audit":               "false",
		"process_ancestry_cache_size": "1000",
		"process_ancestry_cache_ttl":  "300",
		"database_path":               "/var/osquery/osquery.db", // the default: not taken from the config
		"config_plugin":               "filesystem",
	} {
		if got := fs.Get(name); got != want {
			t.Errorf("flag %s = %q, want %q", name, got, want)
		}
	}
	if fs.Changed("database_path") {
		t.Error("CLI-only flag changed by the config")
	}
	if !slices.Equal(cfg.Events.EnableSubscribers, []string{"process_events"}) || len(cfg.Events.DisableSubscribers) != 0 {
		t.Errorf("events %+v", cfg.Events)
	}
	if !strings.Contains(cfg.Events.Raw, `"enable_publishers":["auditeventpublisher"]`) {
		t.Errorf("events raw %s", cfg.Events.Raw)
	}
	if len(cfg.Packs) != 0 || len(cfg.ScheduledQueries()) != 0 {
		t.Errorf("packs %v", cfg.Packs)
	}
	if v, ok := cfg.Option("utc"); !ok || v != "true" || len(cfg.Options) != 12 {
		t.Errorf("options %v", cfg.Options)
	}
	sum := sha1.Sum(data)
	if cfg.Sources[0].SHA1 != hex.EncodeToString(sum[:]) {
		t.Error("source hash")
	}
}

func TestSourceErrors(t *testing.T) {
	nest := func(n int) string { // n nested objects (the root is the first), the last holding a number at level n
		return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)
	}
	big := `{"options":{"x":"` + strings.Repeat("a", 5<<20) + `"}}`
	exact := `{"a":"` + strings.Repeat("b", DefaultMaxSize-9) + `"}` // + '\n' from stripping = limit
	for _, c := range []struct {
		name, text, err string
	}{
		{"invalid", `{"options": {`, "Error parsing the config JSON"},
		{"empty", ``, "Error parsing the config JSON"},
		{"comments only", "# nothing\n// here\n", "Error parsing the config JSON"},
		{"array root", `[{"options": {}}]`, "Error parsing the config JSON"},
		{"string root", `"x"`, "Error parsing the config JSON"},
		{"trailing comma", `{"schedule": {},}`, "Error parsing the config JSON"},
		{"inline comment", "{\"a\": 1 # no\n}", "Error parsing the config JSON"},
		{"block comment", "/* x */ {}", "Error parsing the config JSON"},
		{"lone surrogate", `{"a": "\ud800"}`, "Error parsing the config JSON"},
		{"number too big", `{"a": 1e999}`, "Error parsing the config JSON"},
		{"two roots", `{} {}`, "Error parsing the config JSON"},
		{"40 levels", nest(40), "Error validating the config JSON: Configuration has too many nesting levels!"},
		{"value at level 32", nest(32), "Error validating the config JSON: Configuration has too many nesting levels!"},
		{"value at level 31", nest(31), ""},
		{"empty object at level 31", strings.Repeat(`{"a":`, 31) + "{}" + strings.Repeat("}", 31), ""},
		{"5 MiB", big, "Error parsing the config JSON: the config size exceeds the limit of 4194304 bytes"},
		{"exactly 4 MiB", exact, ""},
		{"4 MiB + 1", exact[:6] + "b" + exact[6:], "Error parsing the config JSON: the config size exceeds the limit of 4194304 bytes"},
		{"4 MiB of comments", strings.Repeat("# padding padding\n", 300000) + "{}", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			called := false
			o := testOptions(nil)
			o.SetOption = func(string, string) error { called = true; return nil }
			cfg, warns, err := Parse(map[string][]byte{"a": []byte(`{"options":{"verbose":true}}`), "b": []byte(c.text)}, o)
			if c.err == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			if err == nil || err.Error() != c.err {
				t.Fatalf("error %v, want %q", err, c.err)
			}
			var pe *Error
			if !asError(err, &pe) || pe.Source != "b" {
				t.Errorf("error source %#v", err)
			}
			if cfg != nil || called {
				t.Error("a failed load applied options")
			}
			if e := messages(warns, slog.LevelError); len(e) != 1 || !strings.HasPrefix(e[0], "updateSource failed to parse config, of source: b and content: ") || len(e[0]) > 1200 {
				t.Errorf("error log %q", e)
			}
		})
	}
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

func TestSourcesOrderHashAndOverride(t *testing.T) {
	// osquery keeps sources in a std::map: the main file sorts before its
	// .d directory, so .d files override it, in name order.
	main := "/etc/osquery/osquery.conf"
	sources := map[string][]byte{
		main + ".d/20-b.conf": []byte(`{"options": {"logger_path": "/b", "verbose": "true"}}`),
		main:                  []byte(`{"options": {"logger_path": "/main", "host_identifier": "uuid"}}`),
		main + ".d/10-a.conf": []byte(`{"options": {"logger_path": "/a"}}`),
	}
	var set []string
	cfg, _, err := Parse(sources, testOptions(&set))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var concat string
	for _, s := range cfg.Sources {
		names = append(names, s.Name)
		sum := sha1.Sum(sources[s.Name])
		if s.SHA1 != hex.EncodeToString(sum[:]) || string(s.Raw) != string(sources[s.Name]) {
			t.Errorf("source %s hash/raw", s.Name)
		}
		concat += s.SHA1
	}
	if !slices.Equal(names, []string{main, main + ".d/10-a.conf", main + ".d/20-b.conf"}) {
		t.Errorf("order %q", names)
	}
	sum := sha1.Sum([]byte(concat))
	if cfg.Hash != hex.EncodeToString(sum[:]) {
		t.Errorf("config hash %s", cfg.Hash)
	}
	// Every source re-applies all options merged so far.
	want := []string{
		"logger_path=/main", "host_identifier=uuid",
		"host_identifier=uuid", "logger_path=/a",
		"host_identifier=uuid", "logger_path=/b", "verbose=true",
	}
	if !slices.Equal(set, want) {
		t.Errorf("applied %q", set)
	}
	if v, _ := cfg.Option("logger_path"); v != "/b" {
		t.Errorf("merged logger_path %q", v)
	}
	// Same content, same hash; any change, another.
	cfg2, _, _ := Parse(sources, testOptions(nil))
	sources[main] = []byte(`{}`)
	cfg3, _, _ := Parse(sources, testOptions(nil))
	if cfg2.Hash != cfg.Hash || cfg3.Hash == cfg.Hash {
		t.Error("hash stability")
	}
}

func TestOptionsParser(t *testing.T) {
	var set []string
	o := testOptions(&set)
	o.SetOption = func(name, value string) error {
		if name == "nope" {
			return fmt.Errorf("Cannot set unknown or invalid flag: %s", name)
		}
		set = append(set, name+"="+value)
		return nil
	}
	cfg, warns := parseText(t, `{"options": {
		"s": "text", "b": true, "i": 10, "neg": -3, "big": 5000000000, "d": 1.5,
		"obj": {"k": [1, 2]}, "arr": [], "empty": "", "n": null, "nope": "1", "": "x",
		"custom_tag": "v", "s": "second"
	}}`, o)
	want := []string{"b=true", "i=10", "neg=-3", "big=5000000000", "d=4609434218613702656",
		`obj={"k":[1,2]}`, "arr=[]", "custom_tag=v", "s=second"}
	if !slices.Equal(set, want) {
		t.Errorf("applied\n %q\nwant %q", set, want)
	}
	if w := messages(warns, slog.LevelWarn); !slices.Equal(w, []string{
		"Cannot parse unknown value type for option: n",
		"Cannot set unknown or invalid flag: nope",
	}) {
		t.Errorf("warnings %q", w)
	}
	if len(cfg.Options) != 10 || cfg.Options[len(cfg.Options)-1] != (Option{"s", "second"}) {
		t.Errorf("merged %v", cfg.Options)
	}

	// options as an array is accepted and changes nothing; a scalar warns.
	_, warns = parseText(t, `{"options": ["verbose"]}`, testOptions(nil))
	if len(messages(warns, slog.LevelWarn)) != 0 {
		t.Errorf("array options: %v", warns)
	}
	_, warns = parseText(t, `{"options": "verbose=true"}`, testOptions(nil))
	if w := messages(warns, slog.LevelWarn); !slices.Equal(w, []string{"Error config options should be an array or object"}) {
		t.Errorf("scalar options: %q", w)
	}
	// null is as good as absent.
	_, warns = parseText(t, `{"options": null}`, testOptions(nil))
	if len(messages(warns, slog.LevelWarn)) != 0 {
		t.Errorf("null options: %v", warns)
	}
}

func TestOptionsFromFlags(t *testing.T) {
	fs := flags.Standard()
	o := OptionsFromFlags(fs)
	o.Hostname = "localhost"
	_, warns := parseText(t, `{"options": {"no_such_flag": 1, "pidfile": "/x", "custom_x": "y", "schedule_splay_percent": "20", "db_path": "/db"}}`, o)
	want := []string{
		"Cannot set unknown or invalid flag: no_such_flag",
		"The CLI only flag --pidfile set via config file will be ignored, please use a flagfile or pass it to the process at startup",
		"The CLI only flag --db_path set via config file will be ignored, please use a flagfile or pass it to the process at startup",
	}
	if w := messages(warns, slog.LevelWarn); !slices.Equal(w, want) {
		t.Errorf("warnings %q", w)
	}
	if fs.Get("custom_x") != "y" || fs.Get("schedule_splay_percent") != "20" || fs.Get("pidfile") != "/var/run/osqueryd.pidfile" {
		t.Error("flags not applied as osquery applies them")
	}
}

func TestScheduleQueries(t *testing.T) {
	cfg, warns := parseText(t, `{
	  "schedule": {
	    "plain":       {"query": "select 1"},
	    "every_min":   {"query": "select 2", "interval": 60, "snapshot": true, "removed": false, "denylist": false,
	                    "description": "d", "value": "v", "oncall": "ignored"},
	    "str_iv":      {"query": "select 3", "interval": "120", "snapshot": "TRUE", "removed": "no"},
	    "max_iv":      {"query": "select 4", "interval": 604800, "snapshot": 1, "denylist": "t"},
	    "zero":        {"query": "select 5", "interval": 0},
	    "million":     {"query": "select 6", "interval": 1000000},
	    "week_plus":   {"query": "select 7", "interval": 604801},
	    "word":        {"query": "select 8", "interval": "hourly"},
	    "obj_iv":      {"query": "select 9", "interval": {"s": 60}},
	    "bool_iv":     {"query": "select 10", "interval": true},
	    "neg_iv":      {"query": "select 11", "interval": -60},
	    "float_iv":    {"query": "select 12", "interval": 60.0},
	    "no_query":    {"interval": 60},
	    "num_query":   {"query": 42},
	    "empty_query": {"query": ""},
	    "nul_query":   {"query": "select 13\u0000; drop"},
	    "not_object":  "select 14",
	    "query.x":     {"query": "select 15"},
	    "cache.y":     {"query": "select 16"},
	    "config_views.z": {"query": "select 17"},
	    "myepoch":     {"query": "select 18"},
	    "my_counter":  {"query": "select 19"},
	    "dup":         {"query": "select 20"},
	    "dup":         {"query": "select 21"}
	  }
	}`, testOptions(nil))
	got := map[string]*Query{}
	for _, q := range cfg.ScheduledQueries() {
		got[q.Name] = q
	}
	if names := queryNames(cfg.ScheduledQueries()); !slices.Equal(names, []string{"dup", "every_min", "max_iv", "nul_query", "plain", "str_iv"}) {
		t.Errorf("scheduled %q", names)
	}
	if q := got["plain"]; q.Interval != 3600 || q.Snapshot || !q.Removed || !q.Denylist || q.SQL != "select 1" || q.Key != "plain" || q.Oncall != "unknown" || q.RunsAtStartup() {
		t.Errorf("plain %+v", q)
	}
	if q := got["every_min"]; q.Interval != 60 || !q.Snapshot || q.Removed || q.Denylist || q.Description != "d" || q.Value != "v" || q.Oncall != "unknown" {
		t.Errorf("every_min %+v", q)
	}
	if q := got["str_iv"]; q.Interval != 120 || !q.Snapshot || q.Removed {
		t.Errorf("str_iv %+v", q)
	}
	if q := got["max_iv"]; q.Interval != 604800 || !q.Snapshot || !q.Denylist {
		t.Errorf("max_iv %+v", q)
	}
	if q := got["nul_query"]; q.SQL != "select 13" {
		t.Errorf("NUL query %q", q.SQL)
	}
	if q := got["dup"]; q.SQL != "select 20" {
		t.Errorf("duplicate: %q", q.SQL)
	}
	wantWarn := []string{
		"Query has invalid interval: zero: 0",
		"Query has invalid interval: million: 1000000",
		"Query has invalid interval: week_plus: 604801",
		"Query has invalid interval: word: 0",
		"Query has invalid interval: obj_iv: 0",
		"Query has invalid interval: bool_iv: 0",
		fmt.Sprintf("Query has invalid interval: neg_iv: %d", uint64(math.MaxUint64-59)),
		fmt.Sprintf("Query has invalid interval: float_iv: %d", math.Float64bits(60)),
		"Query has invalid interval: empty_query: 3600",
		"Query name is reserved and will be ignored: query.x",
		"Query name is reserved and will be ignored: cache.y",
		"Query name is reserved and will be ignored: config_views.z",
		"Query name is reserved and will be ignored: myepoch",
		"Query name is reserved and will be ignored: my_counter",
	}
	if w := messages(warns, slog.LevelWarn); !slices.Equal(w, wantWarn) {
		t.Errorf("warnings\n%s", strings.Join(w, "\n"))
	}
	debug := strings.Join(messages(warns, slog.LevelDebug), "\n")
	for _, s := range []string{"No query string defined for query no_query", "No query string defined for query num_query",
		"The pack main contains an invalid query", "Duplicate query dup in pack main ignored"} {
		if !strings.Contains(debug, s) {
			t.Errorf("no debug note %q in\n%s", s, debug)
		}
	}
}

func TestQueryPlatformVersionShard(t *testing.T) {
	// localhost is shard 20.
	cfg, warns := parseText(t, `{"schedule": {
	  "p_none":    {"query": "select 1", "platform": ""},
	  "p_null":    {"query": "select 1", "platform": "null"},
	  "p_linux":   {"query": "select 1", "platform": "linux"},
	  "p_ubuntu":  {"query": "select 1", "platform": "ubuntu"},
	  "p_centos":  {"query": "select 1", "platform": "centos"},
	  "p_posix":   {"query": "select 1", "platform": "posix"},
	  "p_list":    {"query": "select 1", "platform": "windows,linux"},
	  "p_all":     {"query": "select 1", "platform": "all"},
	  "p_any":     {"query": "select 1", "platform": "any"},
	  "p_darwin":  {"query": "select 1", "platform": "darwin"},
	  "p_windows": {"query": "select 1", "platform": "windows"},
	  "p_freebsd": {"query": "select 1", "platform": "freebsd"},
	  "p_number":  {"query": "select 1", "platform": 5},
	  "v_old":     {"query": "select 1", "version": "1.8.0"},
	  "v_same":    {"query": "select 1", "version": "5.23.0"},
	  "v_short":   {"query": "select 1", "version": "5"},
	  "v_newer":   {"query": "select 1", "version": "5.23.1"},
	  "v_future":  {"query": "select 1", "version": "6.0"},
	  "v_word":    {"query": "select 1", "version": "abc"},
	  "v_suffix":  {"query": "select 1", "version": "5.23.0-rc1"},
	  "v_null":    {"query": "select 1", "version": "null"},
	  "s_zero":    {"query": "select 1", "shard": 0},
	  "s_below":   {"query": "select 1", "shard": 19},
	  "s_equal":   {"query": "select 1", "shard": 20},
	  "s_string":  {"query": "select 1", "shard": "100"},
	  "s_huge":    {"query": "select 1", "shard": 1000}
	}}`, testOptions(nil))
	want := []string{"p_all", "p_any", "p_centos", "p_linux", "p_list", "p_none", "p_null", "p_number", "p_posix", "p_ubuntu",
		"s_equal", "s_huge", "s_string", "s_zero", "v_null", "v_old", "v_same", "v_short", "v_suffix"}
	if got := queryNames(cfg.ScheduledQueries()); !slices.Equal(got, want) {
		t.Errorf("kept\n %q\nwant %q", got, want)
	}
	if len(messages(warns, slog.LevelWarn)) != 0 {
		t.Errorf("warnings %v", warns)
	}
	if cfg.HostShard != 20 {
		t.Errorf("host shard %d", cfg.HostShard)
	}

	// A version component that overflows std::stoi aborts the pack.
	cfg, warns = parseText(t, `{"schedule": {"a": {"query": "select 1"}, "b": {"query": "select 1", "version": "99999999999.0"}}}`, testOptions(nil))
	if len(cfg.Packs) != 0 || !slices.Equal(messages(warns, slog.LevelWarn), []string{"Error adding pack: main: stoi"}) {
		t.Errorf("stoi: %v %v", cfg.Packs, warns)
	}
}

func TestVersionAtLeast(t *testing.T) {
	for _, c := range []struct {
		v, sdk string
		want   bool
		err    bool
	}{
		{"5.23.0", "5.23.0", true, false},
		{"5.22.9", "5.23.0", true, false},
		{"5.24", "5.23.0", false, false},
		{"0.0.0", "1.0.0", true, false},
		{"9.9.9", "0.0.0", true, false},
		{"5..23", "5.23.0", true, false},
		{" 5 . 23 ", "5.23.0", true, false},
		{"5.23.0.1", "5.23.0", true, false}, // extra required components are ignored
		{"5.x", "5.23.0", false, false},     // "23" < "x" as strings
		{"5.1x", "5.23.0", true, false},     // stoi("1x") = 1
		{"3000000000", "5.23.0", false, true},
	} {
		got, err := versionAtLeast(c.v, c.sdk)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("versionAtLeast(%q, %q) = %v, %v", c.v, c.sdk, got, err)
		}
	}
}

func TestStartupPriorityOrder(t *testing.T) {
	cfg, _ := parseText(t, `{"schedule": {
	  "c": {"query": "select 1"},
	  "b": {"query": "select 1", "startup_priority": 2},
	  "a": {"query": "select 1"},
	  "z": {"query": "select 1", "startup_priority": 0},
	  "y": {"query": "select 1", "startup_priority": "2"},
	  "x": {"query": "select 1", "startup_priority": {"bad": 1}},
	  "w": {"query": "select 1", "startup_priority": -1}
	}}`, testOptions(nil))
	if got := queryNames(cfg.ScheduledQueries()); !slices.Equal(got, []string{"z", "b", "y", "a", "c", "w", "x"}) {
		t.Errorf("order %q", got)
	}
	if q := cfg.Pack("main").Queries[0]; !q.RunsAtStartup() || q.StartupPriority != 0 {
		t.Errorf("z %+v", q)
	}
}

func TestPacksInline(t *testing.T) {
	cfg, warns := parseText(t, `{
	  "schedule": {"s": {"query": "select 's'", "interval": 10}},
	  "packs": {
	    "linux_pack": {
	      "platform": "linux", "version": "1.0.0", "shard": 50, "oncall": "team-a",
	      "discovery": ["select pid from processes where name = 'x'", 7, "select 1"],
	      "queries": {"q2": {"query": "select 2", "interval": 60}, "q1": {"query": "select 1", "interval": 60}}
	    },
	    "mac_pack": {"platform": "darwin", "queries": {"q": {"query": "select 1"}}},
	    "future": {"version": "99.0.0", "queries": {"q": {"query": "select 1"}}},
	    "sharded_out": {"shard": 5, "version": "99999999999", "queries": {"q": {"query": "select 1"}}},
	    "no_queries": {},
	    "bad_queries": {"queries": ["select 1"]},
	    "number": 5,
	    "list": ["x"]
	  }
	}`, testOptions(nil))
	if w := messages(warns, slog.LevelWarn); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}
	var names []string
	for _, p := range cfg.Packs {
		names = append(names, fmt.Sprintf("%s:%v", p.Name, p.Valid))
	}
	if !slices.Equal(names, []string{"main:true", "linux_pack:true", "mac_pack:false", "future:false", "sharded_out:false", "no_queries:true", "bad_queries:true"}) {
		t.Errorf("packs %q", names)
	}
	lp := cfg.Pack("linux_pack")
	if lp.Shard != 50 || lp.Platform != "linux" || lp.Version != "1.0.0" || lp.Oncall != "team-a" || lp.Source != "/etc/osquery/osquery.conf" {
		t.Errorf("linux_pack %+v", lp)
	}
	if !slices.Equal(lp.Discovery, []string{"select pid from processes where name = 'x'", "select 1"}) {
		t.Errorf("discovery %q", lp.Discovery)
	}
	if got := queryNames(cfg.ScheduledQueries()); !slices.Equal(got, []string{"s", "pack_linux_pack_q1", "pack_linux_pack_q2"}) {
		t.Errorf("scheduled %q", got)
	}
	if q := cfg.Pack("linux_pack").Queries[0]; q.Key != "q1" || q.Oncall != "team-a" || q.Pack != lp {
		t.Errorf("pack query %+v", q)
	}
	if mp := cfg.Pack("mac_pack"); len(mp.Queries) != 0 || mp.Platform != "darwin" || mp.Oncall != "unknown" {
		t.Errorf("inactive pack %+v", mp)
	}
	debug := strings.Join(messages(warns, slog.LevelDebug), "\n")
	for _, s := range []string{"No queries defined for pack no_queries", "No queries defined for pack bad_queries",
		"Pack number should be an object", "Pack list should be an object", "Pack mac_pack is not active"} {
		if !strings.Contains(debug, s) {
			t.Errorf("no debug note %q", s)
		}
	}
}

func TestPackNamesAndReplacement(t *testing.T) {
	o := testOptions(nil)
	o.PackDelimiter = "/"
	sources := map[string][]byte{
		"a": []byte(`{"schedule": {"q": {"query": "select 'a'"}},
		             "packs": {"p": {"queries": {"old": {"query": "select 1"}}}, "p": {"queries": {"new": {"query": "select 1"}}}}}`),
		"b": []byte(`{"schedule": {"q": {"query": "select 'b'"}},
		             "packs": {"main": {"queries": {"m": {"query": "select 'm'"}}}, "p": {"queries": {"fromb": {"query": "select 1"}}}}}`),
	}
	cfg, _, err := Parse(sources, o)
	if err != nil {
		t.Fatal(err)
	}
	// Within a source a pack of the same name replaces the earlier one
	// (including "main", the schedule); across sources both stay.
	var got []string
	for _, p := range cfg.Packs {
		got = append(got, p.Source+":"+p.Name+":"+strings.Join(queryNames(p.Queries), ","))
	}
	want := []string{"a:main:q", "a:p:pack/p/new", "b:main:m", "b:p:pack/p/fromb"}
	if !slices.Equal(got, want) {
		t.Errorf("packs\n %q\nwant %q", got, want)
	}
	if cfg.PackDelimiter != "/" {
		t.Error("delimiter")
	}
}

func TestOptionsAffectLaterSources(t *testing.T) {
	// schedule_default_interval from an earlier source applies to later
	// sources only (the schedule is read before the options of its own
	// source); pack_delimiter names queries at the end of the load.
	sources := map[string][]byte{
		"1": []byte(`{"options": {"schedule_default_interval": 60, "pack_delimiter": ":"}, "schedule": {"a": {"query": "select 1"}}}`),
		"2": []byte(`{"schedule": {"b": {"query": "select 1"}}, "packs": {"p": {"queries": {"c": {"query": "select 1"}}}}}`),
	}
	cfg, _, err := Parse(sources, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	iv := map[string]uint64{}
	for _, q := range cfg.ScheduledQueries() {
		iv[q.Name] = q.Interval
	}
	if iv["a"] != 3600 || iv["b"] != 60 || iv["pack:p:c"] != 60 {
		t.Errorf("intervals %v", iv)
	}
}

func TestStringPacks(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/commented.conf", "// osquery-style pack\n{\n  # platform\n  \"platform\": \"linux\",\n  \"queries\": {\n    \"q\": {\"query\": \"select 1\", \\\n      \"interval\": 60}\n  }\n}\n")
	writeFile(t, dir+"/broken.conf", "{\"queries\": ")
	writeFile(t, dir+"/array.conf", "[]")
	writeFile(t, dir+"/empty.conf", "")
	writeFile(t, dir+"/multi/one.conf", `{"queries": {"x": {"query": "select 1", "interval": "30", "snapshot": 1}}}`)
	writeFile(t, dir+"/multi/two.conf", `{"queries": {"y": {"query": "select 2", "snapshot": true}}}`)
	writeFile(t, dir+"/multi/three.conf", `[1]`)
	writeFile(t, dir+"/multi/bad.conf", `{`)
	fs := &Filesystem{Path: dir + "/osquery.conf"}
	o := testOptions(nil)
	o.GenPack = func(name, value string) ([]byte, error) { return fs.GenPack(context.Background(), name, value) }
	cfg, warns := parseText(t, `{"packs": {
	  "commented": "`+dir+`/commented.conf",
	  "missing": "`+dir+`/missing.conf",
	  "broken": "`+dir+`/broken.conf",
	  "array": "`+dir+`/array.conf",
	  "empty": "`+dir+`/empty.conf",
	  "*": "`+dir+`/multi/%.conf",
	  "nothing": "`+dir+`/none/%.conf"
	}}`, o)
	wantWarn := []string{
		`Error reading the query pack named: missing`,
		`Error parsing the "broken" pack JSON`,
		`Error parsing the "array" pack JSON`,
		`Error reading the query pack named: empty`,
		"Cannot read multi-pack JSON: " + dir + "/multi/bad.conf",
		"Error parsing pack: three: the value should be an object",
		`Error reading the query pack named: nothing`,
	}
	if w := messages(warns, slog.LevelWarn); !slices.Equal(w, wantWarn) {
		t.Errorf("warnings\n%s", strings.Join(w, "\n"))
	}
	got := map[string]*Query{}
	for _, q := range cfg.ScheduledQueries() {
		got[q.Name] = q
	}
	if q := got["pack_commented_q"]; q == nil || q.Interval != 60 {
		t.Errorf("commented pack: %v", queryNames(cfg.ScheduledQueries()))
	}
	// Multi-pack values went through a property tree: all strings.
	if q := got["pack_one_x"]; q == nil || q.Interval != 30 || q.Snapshot {
		t.Errorf("multi-pack one: %+v", q)
	}
	if q := got["pack_two_y"]; q == nil || !q.Snapshot || q.Interval != 3600 {
		t.Errorf("multi-pack two: %+v", q)
	}

	// A glob matching nothing is silent in osquery; gosquery notes it.
	_, warns = parseText(t, `{"packs": {"*": "`+dir+`/none/%.conf"}}`, o)
	if len(messages(warns, slog.LevelWarn)) != 0 || !strings.Contains(strings.Join(messages(warns, slog.LevelDebug), "\n"), "No pack file matches") {
		t.Errorf("empty glob: %v", warns)
	}
	// Without a resolver every string pack is unreadable.
	_, warns = parseText(t, `{"packs": {"p": "/x.conf"}}`, testOptions(nil))
	if w := messages(warns, slog.LevelWarn); !slices.Equal(w, []string{"Error reading the query pack named: p"}) {
		t.Errorf("no resolver: %q", w)
	}
	// An inline "*" object is a multi-pack too.
	cfg, warns = parseText(t, `{"packs": {"*": {"a": {"queries": {"q": {"query": "select 1"}}}, "b": "x"}}}`, testOptions(nil))
	if got := queryNames(cfg.ScheduledQueries()); !slices.Equal(got, []string{"pack_a_q"}) ||
		!slices.Equal(messages(warns, slog.LevelWarn), []string{"Error parsing pack: b: the value should be an object"}) {
		t.Errorf("inline multi-pack %q %v", got, warns)
	}
}

func TestDecorators(t *testing.T) {
	cfg, warns := parseText(t, `{
	  "decorators": {
	    "load": ["select uuid as host_uuid from system_info", 5, "select user as username from logged_in_users order by time desc limit 1"],
	    "always": ["select pid from processes limit 1"],
	    "interval": {
	      "3600": ["select total_seconds as uptime from uptime"],
	      "60": ["select 1 as one"],
	      "90": ["select 2"],
	      "120": "select 3",
	      "every": ["select 4"],
	      "3600": ["select 5"]
	    }
	  },
	  "packs": {"p": {"decorators": {"always": ["select 'p' as pack"]}, "queries": {}}}
	}`, testOptions(nil))
	wantWarn := []string{
		"Invalid decorator interval rate 90 in config source: /etc/osquery/osquery.conf",
		"Invalid decorator interval rate 120 configuration in config source: /etc/osquery/osquery.conf",
		"Invalid decorator interval rate 0 in config source: /etc/osquery/osquery.conf",
	}
	if w := messages(warns, slog.LevelWarn); !slices.Equal(w, wantWarn) {
		t.Errorf("warnings\n%s", strings.Join(w, "\n"))
	}
	if len(cfg.Decorators) != 2 {
		t.Fatalf("decorator sets %+v", cfg.Decorators)
	}
	d := cfg.Decorators[0]
	if d.Source != "/etc/osquery/osquery.conf" || len(d.Load) != 2 || len(d.Always) != 1 {
		t.Errorf("decorators %+v", d)
	}
	if len(d.Interval) != 2 || d.Interval[0].Seconds != 60 || d.Interval[1].Seconds != 3600 ||
		!slices.Equal(d.Interval[1].Queries, []string{"select total_seconds as uptime from uptime", "select 5"}) {
		t.Errorf("intervals %+v", d.Interval)
	}
	if p := cfg.Decorators[1]; p.Source != "/etc/osquery/osquery.conf_p" || !slices.Equal(p.Always, []string{"select 'p' as pack"}) {
		t.Errorf("pack decorators %+v", p)
	}

	for _, c := range []struct{ text, warn string }{
		{`{"decorators": []}`, "Invalid format for decorators configuration, decorators value must be a JSON object"},
		{`{"decorators": "select 1"}`, "Error config decorators should be an array or object"},
		{`{"decorators": {"interval": ["select 1"]}}`, "Invalid decorator interval configuration in config source: /etc/osquery/osquery.conf"},
	} {
		_, warns := parseText(t, c.text, testOptions(nil))
		if w := messages(warns, slog.LevelWarn); !slices.Equal(w, []string{c.warn}) {
			t.Errorf("%s: %q", c.text, w)
		}
	}
}

func TestEventsViewsAndExtraKeys(t *testing.T) {
	sources := map[string][]byte{
		"1": []byte(`{"events": {"disable_subscribers": ["a"]}, "views": {"v1": "select 1", "v2": "select 2"},
		             "file_paths": {"etc": ["/etc/%%"]}, "yara": {"signatures": {}}}`),
		"2": []byte(`{"events": {"enable_subscribers": ["process_events", 7], "disable_subscribers": ["b"]},
		             "views": {"only": "select 3", "skip": 5, "empty": "", "only": "select 4"},
		             "file_paths": {"tmp": ["/tmp/%"]}, "exclude_paths": {"tmp": ["/tmp/x"]},
		             "auto_table_construction": {}, "prometheus_targets": {"urls": []}, "feature_vectors": {},
		             "kafka_topics": {}, "logger": {}, "file_accesses": ["etc"], "file_paths_query": {}}`),
	}
	cfg, warns, err := Parse(sources, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(messages(warns, slog.LevelWarn)) != 0 {
		t.Errorf("warnings %v", warns)
	}
	if !slices.Equal(cfg.Events.EnableSubscribers, []string{"process_events"}) || !slices.Equal(cfg.Events.DisableSubscribers, []string{"b"}) {
		t.Errorf("events %+v", cfg.Events)
	}
	if len(cfg.Views) != 1 || cfg.Views[0] != (View{"only", "select 4"}) {
		t.Errorf("views %+v", cfg.Views)
	}
	fp := cfg.Extra["file_paths"]
	if len(fp) != 2 || fp[0] != (RawValue{"1", `{"etc":["/etc/%%"]}`}) || fp[1].Source != "2" {
		t.Errorf("file_paths %+v", fp)
	}
	for _, k := range []string{"yara", "exclude_paths", "auto_table_construction", "prometheus_targets", "feature_vectors", "kafka_topics", "logger", "file_accesses", "file_paths_query"} {
		if len(cfg.Extra[k]) != 1 {
			t.Errorf("extra %s: %v", k, cfg.Extra[k])
		}
	}

	// Wrong types for every claimed key: osquery's warning, nothing kept.
	for _, key := range []string{"events", "views", "file_paths", "file_paths_query", "file_accesses", "exclude_paths",
		"yara", "auto_table_construction", "prometheus_targets", "feature_vectors", "kafka_topics", "logger"} {
		for _, val := range []string{`"x"`, `1`, `true`} {
			cfg, warns := parseText(t, `{"`+key+`": `+val+`}`, testOptions(nil))
			want := "Error config " + key + " should be an array or object"
			if w := messages(warns, slog.LevelWarn); !slices.Equal(w, []string{want}) {
				t.Errorf("%s=%s: %q", key, val, w)
			}
			if cfg.Extra != nil || cfg.Events.Raw != "" || cfg.Views != nil {
				t.Errorf("%s=%s kept", key, val)
			}
		}
	}
	// Arrays where objects are expected: accepted by the type check, then
	// nothing comes of them.
	cfg, warns = parseText(t, `{"events": ["process_events"], "views": ["select 1"]}`, testOptions(nil))
	if len(messages(warns, slog.LevelWarn)) != 0 || cfg.Events.EnableSubscribers != nil || len(cfg.Views) != 0 {
		t.Errorf("arrays: %+v %v", cfg, warns)
	}
}

func TestTopLevelOddities(t *testing.T) {
	cfg, warns := parseText(t, `{
	  "schedule": "select 1", "packs": ["p"], "platform": "linux", "scheduledQueries": [],
	  "options": {"a": "first"}, "options": {"a": "second"}, "schedule": {"q": {"query": "select 1"}}
	}`, testOptions(nil))
	if len(messages(warns, slog.LevelWarn)) != 0 {
		t.Errorf("warnings %v", warns)
	}
	// The first of duplicate keys wins, as RapidJSON's FindMember.
	if v, _ := cfg.Option("a"); v != "first" || len(cfg.Packs) != 0 {
		t.Errorf("duplicates: %v %v", cfg.Options, cfg.Packs)
	}
	debug := strings.Join(messages(warns, slog.LevelDebug), "\n")
	for _, s := range []string{"Config schedule should be an object", "Config packs should be an object",
		"Unknown top-level config key ignored: platform", "Unknown top-level config key ignored: scheduledQueries"} {
		if !strings.Contains(debug, s) {
			t.Errorf("no debug note %q in\n%s", s, debug)
		}
	}
}

func TestDuplicateNamesAcrossPacks(t *testing.T) {
	cfg, warns := parseText(t, `{"schedule": {"pack_p_q": {"query": "select 1"}}, "packs": {"p": {"queries": {"q": {"query": "select 2"}}}}}`, testOptions(nil))
	if got := queryNames(cfg.ScheduledQueries()); !slices.Equal(got, []string{"pack_p_q", "pack_p_q"}) {
		t.Errorf("names %q", got)
	}
	if !strings.Contains(strings.Join(messages(warns, slog.LevelDebug), "\n"), "is used by more than one pack") {
		t.Error("no note about the shared name")
	}
}

func TestDiscovery(t *testing.T) {
	cfg, _ := parseText(t, `{"packs": {
	  "d": {"discovery": ["select 1", "select 2"], "queries": {"q": {"query": "select 1"}}},
	  "none": {"queries": {}},
	  "off": {"platform": "darwin", "discovery": ["select 1"]}
	}}`, testOptions(nil))
	rows := map[string]int{"select 1": 1, "select 2": 3}
	var ran []string
	run := func(sql string) (int, error) {
		ran = append(ran, sql)
		if n, ok := rows[sql]; ok {
			return n, nil
		}
		return 0, fmt.Errorf("no such table")
	}
	d := cfg.Pack("d")
	if d.Active() {
		t.Error("active before any check")
	}
	if ok, w := d.CheckDiscovery(1000, 3600, run); !ok || len(w) != 0 || !d.Active() || len(ran) != 2 {
		t.Errorf("first check %v %v %q", ok, w, ran)
	}
	// Cached within the refresh interval.
	rows["select 2"] = 0
	if ok, _ := d.CheckDiscovery(4599, 3600, run); !ok || len(ran) != 2 {
		t.Errorf("cached check ran %q", ran)
	}
	// Expired: a query with no rows deactivates the pack.
	if ok, _ := d.CheckDiscovery(4600, 3600, run); ok || d.Active() || len(ran) != 4 {
		t.Errorf("expired check %v %q", ok, ran)
	}
	d.Discovery = []string{"select broken"}
	ok, w := d.CheckDiscovery(9000, 3600, run)
	if ok || len(w) != 1 || w[0].Message != "Discovery query failed (select broken): no such table" {
		t.Errorf("failing discovery %v %v", ok, w)
	}
	if hits, execs := d.DiscoveryStats(); hits != 1 || execs != 3 {
		t.Errorf("stats %d %d", hits, execs)
	}
	if ok, _ := cfg.Pack("none").CheckDiscovery(1, 0, run); !ok {
		t.Error("pack without discovery inactive")
	}
	off := cfg.Pack("off")
	if ok, _ := off.CheckDiscovery(1, 0, run); ok {
		t.Error("invalid pack active")
	}
	off.SetActive(true)
	if off.Active() {
		t.Error("invalid pack set active")
	}
}

func TestSplay(t *testing.T) {
	for i := 0; i < 200; i++ {
		if v := SplayInterval(3600, 10, nil); v < 3240 || v > 3960 {
			t.Fatalf("splay %d", v)
		}
		if v := SplayInterval(3600, 0, nil); v < 3240 || v > 3960 {
			t.Fatalf("splay 0%% (reset to 10%%) %d", v)
		}
		if v := SplayInterval(1, 50, nil); v != 1 {
			t.Fatalf("splay of 1: %d", v)
		}
	}
	if v := SplayInterval(3600, 101, nil); v != 3600 {
		t.Errorf("over 100%%: %d", v)
	}
	if v, ok := ParseStoredSplay(FormatStoredSplay(60, 57), 60); !ok || v != 57 {
		t.Errorf("stored splay %d %v", v, ok)
	}
	for _, s := range []string{"61:57", "60:0", "60:-1", "60", "60:57:1", "x:57", ""} {
		if _, ok := ParseStoredSplay(s, 60); ok {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestMachineShard(t *testing.T) {
	for host, want := range map[string]uint64{"localhost": 20, "host-a": 71, "web01": 49, "db7.example.com": 3} {
		if got := MachineShard(host); got != want {
			t.Errorf("shard(%s) = %d, want %d", host, got, want)
		}
	}
}

func TestFilesystemEndToEnd(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "osquery.conf")
	writeFile(t, main, "{\n  // main\n  \"options\": {\"logger_path\": \"/main\"},\n  \"schedule\": {\"q\": {\"query\": \"select 1\", \"interval\": 60}},\n  \"packs\": {\"p\": \""+dir+"/p.conf\"}\n}\n")
	writeFile(t, main+".d/50-override.conf", `{"options": {"logger_path": "/override"}}`)
	writeFile(t, dir+"/p.conf", `{"queries": {"pq": {"query": "select 2", "interval": 120}}}`)
	fs := flags.Standard()
	o := OptionsFromFlags(fs)
	o.Hostname = "localhost"
	cfg, warns, err := Load(context.Background(), &Filesystem{Path: main}, o)
	if err != nil || len(messages(warns, slog.LevelWarn)) != 0 {
		t.Fatalf("%v %v", err, warns)
	}
	if fs.Get("logger_path") != "/override" {
		t.Errorf("override: %q", fs.Get("logger_path"))
	}
	if got := queryNames(cfg.ScheduledQueries()); !slices.Equal(got, []string{"q", "pack_p_pq"}) {
		t.Errorf("queries %q", got)
	}
	if _, _, err := Load(context.Background(), &Filesystem{Path: dir + "/none"}, o); err == nil {
		t.Error("missing config loaded")
	}
}

func TestWrongTypesEverywhere(t *testing.T) {
	// Query-level keys of the wrong type: never a crash, osquery's reading.
	cfg, warns := parseText(t, `{"schedule": {
	  "q_arr_interval": {"query": "select 1", "interval": [60]},
	  "q_types": {"query": "select 1", "snapshot": {}, "removed": [], "denylist": null, "platform": [],
	              "version": {}, "shard": "abc", "startup_priority": "soon", "description": 5, "value": []},
	  "q_bool_shard": {"query": "select 1", "shard": true},
	  "q_arr_query": {"query": ["select 1"]},
	  "q_null": null,
	  "q_num": 1
	}, "packs": {
	  "p": {"platform": 5, "version": [], "shard": "x", "discovery": "select 1", "oncall": 5, "queries": "select 1"},
	  "p2": {"queries": null},
	  "p3": {"queries": {"": {"query": "select 1"}}}
	}}`, testOptions(nil))
	if w := messages(warns, slog.LevelWarn); !slices.Equal(w, []string{"Query has invalid interval: q_arr_interval: 0"}) {
		t.Errorf("warnings %q", w)
	}
	q := cfg.Pack("main").Queries
	if got := queryNames(q); !slices.Equal(got, []string{"q_bool_shard", "q_types"}) {
		t.Fatalf("kept %q", got)
	}
	if qt := q[1]; qt.Snapshot || qt.Removed || qt.Denylist || qt.Platform != "" || qt.Version != "" || qt.Shard != 0 ||
		qt.RunsAtStartup() || qt.Description != "" || qt.Value != "" || qt.Interval != 3600 {
		t.Errorf("q_types %+v", qt)
	}
	p := cfg.Pack("p")
	if !p.Valid || p.Platform != "" || p.Version != "" || p.Shard != 0 || p.Discovery != nil || p.Oncall != "unknown" || len(p.Queries) != 0 {
		t.Errorf("pack p %+v", p)
	}
	if p3 := cfg.Pack("p3"); len(p3.Queries) != 1 || p3.Queries[0].Name != "pack_p3_" {
		t.Errorf("empty query name %+v", p3.Queries)
	}
}
