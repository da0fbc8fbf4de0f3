package system

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestGroupsFixture(t *testing.T) {
	env, _ := acctFixture(t)
	rows := tabletest.Query(t, env, "select *, pid_with_namespace from groups")
	// Expected: /etc/group in order, one row per gid (first wins), then the
	// extrausers groups whose gid is new.
	seen := map[string]bool{}
	var want []string
	for _, l := range acctGolden(t, "testdata/accounts/group.glibc") {
		f := strings.Split(l, "|")
		if !seen[f[2]] {
			seen[f[2]] = true
			want = append(want, f[0]+"|"+f[2])
		}
	}
	want = append(want, "extragrp|3000", "devs|4000")
	var got []string
	for _, r := range rows {
		got = append(got, r["groupname"]+"|"+r["gid"])
		if r["pid_with_namespace"] != "0" {
			t.Errorf("pid_with_namespace %q", r["pid_with_namespace"])
		}
	}
	acctCompareLines(t, got, want)
	for _, r := range rows {
		if r["groupname"] == "maxgid" && (r["gid"] != "4294967295" || r["gid_signed"] != "-1") {
			t.Errorf("maxgid: %v", r)
		}
		if r["groupname"] == "dupgid" || r["groupname"] == "alice-again" {
			t.Errorf("duplicate gid reported: %v", r)
		}
	}
	rows = tabletest.Query(t, env, "select groupname from groups where gid in (2000, 3000, 123456)")
	if len(rows) != 2 || rows[0]["groupname"] != "devs" || rows[1]["groupname"] != "extragrp" {
		t.Errorf("gid IN: %v", rows)
	}
	acctFakeProc(t, env, 77, env.Root)
	env.Root = t.TempDir()
	rows = tabletest.Query(t, env, "select groupname, pid_with_namespace from groups where pid_with_namespace = 77 and gid = 2001")
	if len(rows) != 1 || rows[0]["groupname"] != "wheel" || rows[0]["pid_with_namespace"] != "77" {
		t.Errorf("namespace: %v", rows)
	}
}

// TestGroupsLive compares the table with /etc/group read independently
// (the host's nsswitch.conf lists files first).
func TestGroupsLive(t *testing.T) {
	b, err := os.ReadFile("/etc/group")
	if err != nil {
		t.Skip(err)
	}
	seen := map[string]bool{}
	want := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) < 3 || strings.HasPrefix(l, "#") {
			continue
		}
		if _, err := strconv.ParseUint(f[2], 10, 32); err != nil || seen[f[2]] {
			continue
		}
		seen[f[2]] = true
		want[f[2]] = f[0]
	}
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from groups")
	got := map[string]string{}
	for _, r := range rows {
		got[r["gid"]] = r["groupname"]
	}
	for gid, name := range want {
		if got[gid] != name {
			t.Errorf("gid %s: got %q, want %q", gid, got[gid], name)
		}
	}
	if len(rows) < len(want) {
		t.Errorf("%d rows, /etc/group has %d gids", len(rows), len(want))
	}
	rows = tabletest.Query(t, tabletest.HostEnv(t), "select groupname from groups where gid = 0")
	if len(rows) != 1 || rows[0]["groupname"] != want["0"] {
		t.Errorf("gid = 0: %v", rows)
	}
}
