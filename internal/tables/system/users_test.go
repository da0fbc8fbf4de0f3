package system

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestUsersFixture(t *testing.T) {
	env, _ := acctFixture(t)
	rows := tabletest.Query(t, env, "select *, pid_with_namespace, include_remote from users")
	want := acctGolden(t, "testdata/accounts/passwd.glibc")
	if len(rows) != len(want) {
		t.Fatalf("%d rows, passwd has %d entries", len(rows), len(want))
	}
	for i, r := range rows {
		f := strings.SplitN(want[i], "|", 7)
		got := []string{r["username"], "x", r["uid"], r["gid"], r["description"], r["directory"], r["shell"]}
		if strings.Join(got, "|") != strings.Join(f, "|") {
			t.Errorf("row %d: %q, want %q", i, got, f)
		}
		if r["uuid"] != "" || r["pid_with_namespace"] != "0" || r["include_remote"] != "0" {
			t.Errorf("row %d: uuid %q pid_with_namespace %q include_remote %q", i, r["uuid"], r["pid_with_namespace"], r["include_remote"])
		}
	}
	byName := map[string]map[string]string{}
	for _, r := range rows {
		byName[r["username"]] = r
	}
	if r := byName["maxuid"]; r["uid"] != "4294967295" || r["uid_signed"] != "-1" || r["gid_signed"] != "-2" {
		t.Errorf("maxuid: %v", r)
	}
	if r := byName["alice"]; r["uid_signed"] != "1100" || r["description"] != "Alice Example,,," {
		t.Errorf("alice: %v", r)
	}
	if r := byName["latin1"]; r["description"] != "Jos\xe9 Mar\xeda" {
		t.Errorf("latin1 description %q: bytes must be kept", r["description"])
	}
	for _, bad := range []string{"nouid", "badgid", "huge", "negative", "trunc", "+", "-nisuser"} {
		if _, ok := byName[bad]; ok {
			t.Errorf("invalid entry %q was returned", bad)
		}
	}
	if _, ok := byName["extra"]; ok {
		t.Errorf("extrausers entry returned without include_remote")
	}
}

func TestUsersConstraints(t *testing.T) {
	env, _ := acctFixture(t)
	cases := []struct {
		sql  string
		want []string
	}{
		{"select username from users where uid = 0", []string{"root", "toor"}},
		{"select username from users where uid in (1100, 1101)", []string{"alice", "bob"}},
		{"select username from users where username = 'bob'", []string{"bob"}},
		{"select username from users where username in ('spaces in name', 'colon')", []string{"spaces in name", "colon"}},
		{"select username from users where username = 'alice' and uid = 5", nil},
		{"select username from users where uid = 3000", nil},
		// include_remote = 1 adds extrausers, including a second alice with
		// another uid, as getpwent(3) would.
		{"select username from users where include_remote = 1 and uid = 3000", []string{"extra"}},
		{"select username from users where include_remote = 1 and uid = 9999", []string{"alice"}},
		{"select include_remote from users where include_remote = 1 and uid = 1100", []string{"1"}},
		{"select username from users where include_remote = 0 and uid = 3000", nil},
	}
	for _, c := range cases {
		rows := tabletest.Query(t, env, c.sql)
		var got []string
		for _, r := range rows {
			for _, v := range r {
				got = append(got, v)
			}
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: got %q, want %q", c.sql, got, c.want)
		}
	}
}

func TestUsersNamespace(t *testing.T) {
	env, dir := acctFixture(t)
	acctFakeProc(t, env, 4242, dir)
	env.Root = t.TempDir() // the host view is empty: rows must come from the namespace
	rows := tabletest.Query(t, env, "select username, pid_with_namespace from users where pid_with_namespace = 4242 and uid = 1101")
	if len(rows) != 1 || rows[0]["username"] != "bob" || rows[0]["pid_with_namespace"] != "4242" {
		t.Errorf("got %v", rows)
	}
	if rows := tabletest.Query(t, env, "select * from users where pid_with_namespace = 999999"); len(rows) != 0 {
		t.Errorf("a missing pid returned %d rows", len(rows))
	}
	if _, err := tabletest.TryQuery(env, "select * from users"); err == nil {
		t.Errorf("a root without /etc/passwd must fail the query")
	}
}

// TestUsersLive compares the table with /etc/passwd read independently.
func TestUsersLive(t *testing.T) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Skip(err)
	}
	type acct struct{ uid, gid, gecos, dir, shell string }
	var want []string
	wantBy := map[string]acct{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) < 7 || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-") {
			continue
		}
		if _, err := strconv.ParseUint(f[2], 10, 32); err != nil {
			continue
		}
		want = append(want, f[0])
		wantBy[f[0]] = acct{f[2], f[3], f[4], f[5], strings.Join(f[6:], ":")}
	}
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from users")
	if len(rows) != len(want) {
		t.Fatalf("%d rows, /etc/passwd has %d accounts", len(rows), len(want))
	}
	for i, r := range rows {
		w := wantBy[r["username"]]
		if r["username"] != want[i] || r["uid"] != w.uid || r["gid"] != w.gid || r["description"] != w.gecos || r["directory"] != w.dir || r["shell"] != w.shell {
			t.Errorf("row %d: %v, want %s %+v", i, r, want[i], w)
		}
	}
	me := strconv.Itoa(os.Getuid())
	rows = tabletest.Query(t, tabletest.HostEnv(t), "select uid from users where uid = "+me)
	if len(rows) == 0 {
		t.Errorf("uid %s (this process) not found", me)
	}
	// The host's view through our own pid namespace root is the same.
	pid := os.Getpid()
	rows = tabletest.Query(t, tabletest.HostEnv(t), fmt.Sprintf("select username, pid_with_namespace from users where pid_with_namespace = %d", pid))
	if len(rows) != len(want) || rows[0]["pid_with_namespace"] != strconv.Itoa(pid) {
		t.Errorf("pid_with_namespace = self: %d rows, first %v", len(rows), rows)
	}
	// include_remote = 1 follows nsswitch.conf; the local accounts are
	// always part of it.
	remote := tabletest.Query(t, tabletest.HostEnv(t), "select username from users where include_remote = 1")
	names := map[string]bool{}
	for _, r := range remote {
		names[r["username"]] = true
	}
	if ns, err := os.ReadFile("/etc/nsswitch.conf"); err == nil && strings.Contains(string(ns), "files") {
		for _, n := range want {
			if !names[n] {
				t.Errorf("include_remote = 1 lacks local user %s", n)
			}
		}
	}
}
