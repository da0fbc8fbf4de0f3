package system

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/tabletest"
)

// acctFixture builds a host root for the account tables in a temp dir:
// passwd and group from testdata, an nsswitch.conf with extrausers, home
// directories with histories and authorized_keys (plus a FIFO and an
// absolute symlink, which must be handled inside the root), utmp/wtmp and
// crontabs. It returns an Env whose Root is that dir.
func acctFixture(t *testing.T) (*table.Env, string) {
	t.Helper()
	dir := t.TempDir()
	put := func(dst string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, dst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cp := func(src, dst string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		put(dst, b)
	}
	cp("testdata/accounts/passwd", "etc/passwd")
	cp("testdata/accounts/group", "etc/group")
	put("etc/nsswitch.conf", []byte("# fixture\npasswd: compat extrausers\ngroup:\tfiles extrausers # trailing comment\nhosts: files dns\n"))
	put("var/lib/extrausers/passwd", []byte("extra:x:3000:3000:Extra User:/home/extra:/bin/sh\nalice:x:9999:9999:shadowed by files:/nowhere:/bin/false\n"))
	put("var/lib/extrausers/group", []byte("extragrp:x:3000:alice,extra\ndevs:x:4000:extra\n"))

	put("root/.bash_history", []byte("whoami\n"))
	put("root/.ssh/authorized_keys", []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJQk8cpH/XVjJ061H4sMOEFIVcBusZCjqQi3XhoSvlm2 root@fixture\n"))
	cp("testdata/shell_history/zsh_history", "home/alice/.zsh_history")
	cp("testdata/authorized_keys/authorized_keys", "home/alice/.ssh/authorized_keys")
	put("home/alice/.ssh/authorized_keys2", []byte("ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjE= legacy file\n"))
	cp("testdata/shell_history/bash_history", "home/bob/.bash_history")
	put("home/bob/.bash_sessions/B2.history", []byte("session b2\n"))
	put("home/bob/.bash_sessions/A1.history", []byte("session a1\n"))
	put("home/bob/.bash_sessions/.hidden.history", []byte("hidden\n"))
	put("home/bob/.bash_sessions/notes.txt", []byte("not history\n"))
	put("home/extra/.ssh/authorized_keys", []byte("ssh-rsa AAAAB3NzaC1yc2E= extra@remote\n"))
	// A FIFO would block a naive reader forever; it must be skipped.
	if err := syscall.Mkfifo(filepath.Join(dir, "home/bob/.sh_history"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An absolute symlink resolves inside the root, not on the host.
	if err := os.Symlink("/home/alice/.zsh_history", filepath.Join(dir, "home/bob/.zhistory")); err != nil {
		t.Fatal(err)
	}

	cp("testdata/utmp/utmp", "var/run/utmp")
	cp("testdata/utmp/wtmp", "var/log/wtmp")
	cp("testdata/crontab/crontab", "etc/crontab")
	cp("testdata/crontab/e2scrub_all", "etc/cron.d/e2scrub_all")
	cp("testdata/crontab/alice", "var/spool/cron/crontabs/alice")
	if err := os.MkdirAll(filepath.Join(dir, "etc/cron.d/subdir"), 0o755); err != nil {
		t.Fatal(err)
	}

	env := tabletest.HostEnv(t)
	env.Root = dir
	return env, dir
}

// acctFakeProc makes a proc root where pid's root link points at root, for
// pid_with_namespace tests.
func acctFakeProc(t *testing.T, env *table.Env, pid int, root string) {
	t.Helper()
	proc := t.TempDir()
	if err := os.MkdirAll(filepath.Join(proc, fmt.Sprint(pid)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(proc, fmt.Sprint(pid), "root")); err != nil {
		t.Fatal(err)
	}
	env.ProcRoot = proc
}

// TestParsePasswdMatchesGlibc compares the parser with glibc's fgetpwent
// over the fixture (real host entries plus hostile lines); see
// testdata/accounts/glibc_dump.c. gosquery skips NIS +/- compat lines,
// which fgetpwent returns as odd entries.
func TestParsePasswdMatchesGlibc(t *testing.T) {
	b, err := os.ReadFile("testdata/accounts/passwd")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range parsePasswd(b) {
		got = append(got, fmt.Sprintf("%s|%s|%d|%d|%s|%s|%s", e.Name, e.Passwd, e.UID, e.GID, e.Gecos, e.Dir, e.Shell))
	}
	want := acctGolden(t, "testdata/accounts/passwd.glibc")
	acctCompareLines(t, got, want)
}

func TestParseGroupMatchesGlibc(t *testing.T) {
	b, err := os.ReadFile("testdata/accounts/group")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range parseGroup(b) {
		got = append(got, fmt.Sprintf("%s|%s|%d|%s", g.Name, g.Passwd, g.GID, strings.Join(g.Members, ",")))
	}
	acctCompareLines(t, got, acctGolden(t, "testdata/accounts/group.glibc"))
}

// acctGolden reads a glibc dump, dropping the NIS compat entries.
func acctGolden(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-") {
			continue
		}
		out = append(out, l)
	}
	return out
}

func acctCompareLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d entries, glibc has %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("entry %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}
}

func TestParsePasswdLineEdges(t *testing.T) {
	cases := []struct {
		line string
		ok   bool
		want passwdEntry
	}{
		{"root:x:0:0:root:/root:/bin/bash", true, passwdEntry{"root", "x", 0, 0, "root", "/root", "/bin/bash"}},
		{"a:x:1:2", true, passwdEntry{Name: "a", Passwd: "x", UID: 1, GID: 2}},
		{"a:x:1:2:g:/h:/bin/sh:more", true, passwdEntry{"a", "x", 1, 2, "g", "/h", "/bin/sh:more"}},
		{"  indented:x:1:2::/:/bin/sh", true, passwdEntry{"indented", "x", 1, 2, "", "/", "/bin/sh"}},
		{"a:x:4294967295:0::/:", true, passwdEntry{Name: "a", Passwd: "x", UID: 4294967295, Dir: "/"}},
		{"a:x:4294967296:0::/:", false, passwdEntry{}},
		{"a:x:-1:0::/:", false, passwdEntry{}},
		{"a:x:+1:0::/:", false, passwdEntry{}},
		{"a:x:0x10:0::/:", false, passwdEntry{}},
		{"a:x::0::/:", false, passwdEntry{}},
		{"a:x:1", false, passwdEntry{}},
		{"a", false, passwdEntry{}},
		{":x:1:1::/:", false, passwdEntry{}},
		{"# a:x:1:1::/:", false, passwdEntry{}},
		{"+alice::::::", false, passwdEntry{}},
		{"", false, passwdEntry{}},
	}
	for _, c := range cases {
		got, ok := parsePasswdLine([]byte(c.line))
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parsePasswdLine(%q) = %+v, %v; want %+v, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

func TestAcctEachLine(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	in := "a\n\n" + long + "\nb\r\nlast"
	var got []string
	err := acctEachLine(context.Background(), strings.NewReader(in), 100<<10, func(l []byte) {
		got = append(got, string(l))
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "", long[:100<<10], "b\r", "last"}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %d bytes %.20q, want %d bytes %.20q", i, len(got[i]), got[i], len(want[i]), want[i])
		}
	}
	// A trailing newline does not make an extra empty line.
	got = nil
	_ = acctEachLine(context.Background(), strings.NewReader("x\n"), 10, func(l []byte) { got = append(got, string(l)) })
	if len(got) != 1 || got[0] != "x" {
		t.Errorf("got %q, want [x]", got)
	}
}

// TestAcctRootOpen checks that files are resolved inside the root and that
// anything but a regular file is refused without blocking.
func TestAcctRootOpen(t *testing.T) {
	_, dir := acctFixture(t)
	root := acctRoot{dir: dir}
	b, err := root.readFile("/home/bob/.zhistory", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile("testdata/shell_history/zsh_history")
	if !bytes.Equal(b, want) {
		t.Errorf("absolute symlink did not resolve inside the root")
	}
	// ../../../ cannot climb out of the root either.
	if _, err := root.readFile("/../../../../etc/group", 1<<20); err != nil {
		t.Fatal(err)
	} else if b, _ := root.readFile("/../../../../etc/group", 1<<20); !bytes.Contains(b, []byte("dupgid")) {
		t.Errorf(".. escaped the root")
	}
	done := make(chan error, 1)
	go func() {
		_, err := root.readFile("/home/bob/.sh_history", 1<<20)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("FIFO was read as a file")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO blocked")
	}
	if _, err := root.readFile("/home/bob", 1<<20); err == nil {
		t.Errorf("a directory was read as a file")
	}
	// On the host root too: devices are refused before being opened for
	// reading, FIFOs without blocking.
	for _, p := range []string{"/dev/null", "/dev/zero", filepath.Join(dir, "home/bob/.sh_history")} {
		if f, err := (acctRoot{dir: "/"}).open(p); err == nil {
			f.Close()
			t.Errorf("%s opened as a regular file", p)
		}
	}
	// Oversized files come back cut at the last full line.
	b, err = root.readFile("/etc/passwd", 100)
	if err == nil || len(b) == 0 || len(b) > 100 || b[len(b)-1] != '\n' {
		t.Errorf("capped read: %d bytes, err %v", len(b), err)
	}
}

func FuzzParsePasswd(f *testing.F) {
	if b, err := os.ReadFile("testdata/accounts/passwd"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("a:x:1:2:g:/h:/bin/sh\n::::\n\x00:\xff:9:9\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, e := range parsePasswd(b) {
			if e.Name == "" || strings.ContainsAny(e.Name, ":\n") {
				t.Fatalf("bad name %q", e.Name)
			}
		}
	})
}

func FuzzParseGroup(f *testing.F) {
	if b, err := os.ReadFile("testdata/accounts/group"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("g:x:1:a,,b, c\n:x:1:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, g := range parseGroup(b) {
			for _, m := range g.Members {
				if m == "" || strings.Contains(m, ",") {
					t.Fatalf("bad member %q", m)
				}
			}
		}
	})
}
