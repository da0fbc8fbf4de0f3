package extensions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAutoloadSafety(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("#!/bin/sh\n"), mode)
		os.Chmod(p, mode)
		return p
	}
	good := write("good.ext", 0o755)
	if err := autoloadSafe(good, false); err != nil {
		t.Fatalf("good: %v", err)
	}
	for name, p := range map[string]string{
		"suffix":         write("bad.bin", 0o755),
		"world writable": write("ww.ext", 0o757),
		"not executable": write("noexec.ext", 0o644),
		"missing":        filepath.Join(dir, "missing.ext"),
	} {
		if err := autoloadSafe(p, false); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	// A sticky (tmp-like) directory is refused unless --allow_unsafe.
	sticky := filepath.Join(dir, "tmp")
	os.Mkdir(sticky, 0o755)
	os.Chmod(sticky, 0o755|os.ModeSticky)
	p := filepath.Join(sticky, "x.ext")
	os.WriteFile(p, nil, 0o755)
	if err := autoloadSafe(p, false); err == nil || !strings.Contains(err.Error(), "unsafe") {
		t.Errorf("sticky dir: %v", err)
	}
	if err := autoloadSafe(p, true); err != nil {
		t.Errorf("allow_unsafe: %v", err)
	}
	if err := autoloadSafe(write("bad2.bin", 0o755), true); err == nil {
		t.Error("allow_unsafe lifted the suffix rule")
	}
}

func TestAutoloadList(t *testing.T) {
	m, _ := testManager(t)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.ext")
	os.WriteFile(a, nil, 0o755)
	sub := filepath.Join(dir, "more")
	os.Mkdir(sub, 0o755)
	b := filepath.Join(sub, "b.ext")
	os.WriteFile(b, nil, 0o755)
	os.WriteFile(filepath.Join(sub, "notes.txt"), nil, 0o644)
	list := filepath.Join(dir, "extensions.load")
	os.WriteFile(list, []byte("# comment\n  "+a+"  \n; "+a+"\n\n"+sub+"\n"+a+"\n/nonexistent.ext\n"), 0o644)
	got := autoloadPaths(m, list)
	if len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("paths %v", got)
	}
}
