package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFilesystemGen(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "osquery.conf")
	writeFile(t, main, `{"options": {"verbose": "false"}}`)
	writeFile(t, main+".d/20-b.conf", `{"b": 1}`)
	writeFile(t, main+".d/10-a.conf", `{"a": 1}`)
	writeFile(t, main+".d/.hidden.conf", `{}`)
	writeFile(t, main+".d/readme.txt", `not a conf`)
	writeFile(t, main+".d/big.conf", strings.Repeat(" ", 200)+"{}")
	if err := os.MkdirAll(main+".d/dir.conf", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(main+".d/10-a.conf", main+".d/15-link.conf"); err != nil {
		t.Fatal(err)
	}

	fs := &Filesystem{Path: main, ReadMax: 100}
	got, err := fs.Gen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{main, main + ".d/10-a.conf", main + ".d/15-link.conf", main + ".d/20-b.conf"}
	if !slices.Equal(names, want) {
		t.Fatalf("sources %q, want %q", names, want)
	}
	if string(got[main+".d/20-b.conf"]) != `{"b": 1}` {
		t.Errorf("content %q", got[main+".d/20-b.conf"])
	}

	// A main file over the read limit is an error, not an empty config.
	if _, err := (&Filesystem{Path: main, ReadMax: 10}).Gen(context.Background()); err == nil || !strings.Contains(err.Error(), "read limit") {
		t.Errorf("oversized main file: %v", err)
	}
	// The main file must exist and be a regular file.
	for _, p := range []string{filepath.Join(dir, "missing.conf"), main + ".d", ""} {
		_, err := (&Filesystem{Path: p}).Gen(context.Background())
		if err == nil || err.Error() != "config file does not exist: "+p {
			t.Errorf("Gen(%q) error %v", p, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := fs.Gen(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestFilesystemGenPack(t *testing.T) {
	dir := t.TempDir()
	pack := filepath.Join(dir, "p.conf")
	writeFile(t, pack, "// a pack\n{\"queries\": {}}\n")
	fs := &Filesystem{Path: filepath.Join(dir, "osquery.conf")}
	got, err := fs.GenPack(context.Background(), "p", pack)
	if err != nil || string(got) != "// a pack\n{\"queries\": {}}\n" {
		t.Fatalf("GenPack = %q, %v", got, err)
	}
	for _, p := range []string{filepath.Join(dir, "nope.conf"), dir} {
		_, err := fs.GenPack(context.Background(), "p", p)
		if err == nil || err.Error() != p+" is not a valid path" {
			t.Errorf("GenPack(%q) error %v", p, err)
		}
	}
}

func TestFilesystemMultiPack(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/packs/a.conf", "# comment\n{\n  // more\n  \"queries\": {\"q\": {\"query\": \"select 1\", \"interval\": 60, \"snapshot\": 1, \"removed\": false}},\n  \"discovery\": []\n}\n")
	writeFile(t, dir+"/packs/b.conf", `{"queries": `)
	writeFile(t, dir+"/packs/c.conf", `["not", "an", "object"]`)
	writeFile(t, dir+"/packs/.hidden.conf", `{}`)
	writeFile(t, dir+"/packs/other.txt", `{}`)
	if err := os.MkdirAll(dir+"/packs/d.conf", 0o755); err != nil {
		t.Fatal(err)
	}
	fs := &Filesystem{Path: dir + "/osquery.conf"}
	got, err := fs.GenPack(context.Background(), "*", dir+"/packs/%.conf")
	want := `{"a":{"queries":{"q":{"query":"select 1","interval":"60","snapshot":"1","removed":"false"}},"discovery":""},"c":["not","an","object"]}`
	if string(got) != want {
		t.Errorf("multi-pack\n got %s\nwant %s", got, want)
	}
	var msgs []string
	for _, e := range unjoin(err) {
		msgs = append(msgs, e.Error())
	}
	wantMsgs := []string{"Cannot read multi-pack JSON: " + dir + "/packs/b.conf", "Cannot read multi-pack file: " + dir + "/packs/d.conf"}
	if !slices.Equal(msgs, wantMsgs) {
		t.Errorf("problems %q, want %q", msgs, wantMsgs)
	}

	got, err = fs.GenPack(context.Background(), "*", dir+"/nothing/*.conf")
	if string(got) != "{}" || err != nil {
		t.Errorf("empty glob: %q %v", got, err)
	}
	if _, err := fs.GenPack(context.Background(), "*", dir+"/[.conf"); err == nil {
		t.Error("bad pattern accepted")
	}
}
