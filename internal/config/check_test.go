package config

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/flags"
)

func flagsWithConfig(t *testing.T, path string) *flags.Set {
	t.Helper()
	fs := flags.Standard()
	if err := fs.Set("config_path", path); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	writeFile(t, good, "# ok\n{\"options\": {\"no_such_flag\": 1}, \"schedule\": {\"q\": {\"query\": \"select 1\", \"interval\": 0}}}\n")
	bad := filepath.Join(dir, "bad.conf")
	writeFile(t, bad, "{\"options\": }\n")
	deep := filepath.Join(dir, "deep.conf")
	writeFile(t, deep, strings.Repeat(`{"a":`, 40)+"1"+strings.Repeat("}", 40))
	missing := filepath.Join(dir, "missing.conf")

	for _, c := range []struct {
		path, plugin, stderr string
		code                 int
	}{
		{good, "filesystem", "", 0},
		{bad, "filesystem", "Error reading config: Error parsing the config JSON\n", 1},
		{deep, "filesystem", "Error reading config: Error validating the config JSON: Configuration has too many nesting levels!\n", 1},
		{missing, "filesystem", "Error reading config: config file does not exist: " + missing + "\n", 1},
		{dir, "filesystem", "Error reading config: config file does not exist: " + dir + "\n", 1},
		{good, "nosuch", "Cannot activate nosuch config plugin: Unknown registry plugin: nosuch\n", 78},
	} {
		fs := flagsWithConfig(t, c.path)
		r := Check(context.Background(), c.plugin, fs, OptionsFromFlags(fs))
		if r.Code != c.code || r.Stderr != c.stderr || r.Stdout != "" {
			t.Errorf("Check(%s, %s) = %d %q, want %d %q", c.plugin, c.path, r.Code, r.Stderr, c.code, c.stderr)
		}
		if c.path == good && c.plugin == "filesystem" && len(messages(r.Warnings, slog.LevelWarn)) != 2 {
			// Bad intervals and unknown options only warn.
			t.Errorf("good config warnings %v", r.Warnings)
		}
	}
}

func TestDump(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "osquery.conf")
	raw := "{\n  // kept: the dump is raw\n  \"options\": {}\n}\n"
	writeFile(t, main, raw)
	writeFile(t, main+".d/a.conf", `{"x": 1}`)
	writeFile(t, main+".d/b.conf", "{\"y\": \"nul\x00cut\"}")
	r := Dump(context.Background(), "filesystem", flagsWithConfig(t, main))
	want := "{\"" + main + "\": " + raw + "}\n" +
		"{\"" + main + ".d/a.conf\": {\"x\": 1}}\n" +
		"{\"" + main + ".d/b.conf\": {\"y\": \"nul}\n"
	if r.Code != 0 || r.Stdout != want || r.Stderr != "" {
		t.Errorf("Dump = %d %q\nwant %q", r.Code, r.Stdout, want)
	}
	// A single-line config gives exactly one line.
	single := map[string][]byte{"tls_plugin": []byte(`{"schedule":{}}`)}
	if got := DumpSources(single); got != "{\"tls_plugin\": {\"schedule\":{}}}\n" {
		t.Errorf("DumpSources %q", got)
	}
	if err := os.Remove(main); err != nil {
		t.Fatal(err)
	}
	r = Dump(context.Background(), "filesystem", flagsWithConfig(t, main))
	if r.Code != 1 || r.Stdout != "" || r.Stderr != "Error reading config: config file does not exist: "+main+"\n" {
		t.Errorf("Dump of a missing config = %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if r := Dump(context.Background(), "tls", nil); r.Code != 78 {
		t.Errorf("unknown plugin %d", r.Code)
	}
}

func TestPluginRegistry(t *testing.T) {
	names := PluginNames()
	if len(names) == 0 || names[0] != "filesystem" {
		t.Errorf("plugins %q", names)
	}
	p, err := NewPlugin("filesystem", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fsp, ok := p.(*Filesystem); !ok || fsp.Path != "/etc/osquery/osquery.conf" || fsp.ReadMax != defaultReadMax || p.Name() != "filesystem" {
		t.Errorf("default filesystem plugin %+v", p)
	}
	defer func() {
		if recover() == nil {
			t.Error("duplicate registration accepted")
		}
	}()
	RegisterPlugin("filesystem", nil)
}
