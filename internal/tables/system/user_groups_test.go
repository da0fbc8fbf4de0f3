package system

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestUserGroupsFixture(t *testing.T) {
	env, _ := acctFixture(t)
	cases := []struct {
		sql  string
		want string
	}{
		// Primary group, then devs, wheel and the extrausers group;
		// alice-again repeats gid 1100 and is not listed twice.
		{"select uid, gid from user_groups where uid = 1100", "1100:1100 1100:2000 1100:2001 1100:3000"},
		// devs lists "bob " (glibc keeps the trailing blank, so no match);
		// dupgid (also gid 2000) lists bob; crlf lists "bob\r".
		{"select uid, gid from user_groups where uid = 1101", "1101:1101 1101:2000"},
		{"select uid, gid from user_groups where uid in (1100, 1101) and gid = 2000", "1100:2000 1101:2000"},
		// root and toor share uid 0: the first account is used.
		{"select uid, gid from user_groups where uid = 0", "0:0"},
		// Accounts from include_remote sources are users too.
		{"select uid, gid from user_groups where uid = 3000", "3000:3000 3000:4000"},
	}
	for _, c := range cases {
		var got []string
		for _, r := range tabletest.Query(t, env, c.sql) {
			got = append(got, r["uid"]+":"+r["gid"])
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s: got %q, want %q", c.sql, strings.Join(got, " "), c.want)
		}
	}
	all := tabletest.Query(t, env, "select uid from user_groups")
	uids := map[string]int{}
	for _, r := range all {
		uids[r["uid"]]++
	}
	if uids["0"] != 1 {
		t.Errorf("uid 0 has %d rows, want 1 (de-duplicated by uid)", uids["0"])
	}
}

// TestUserGroupsLive recomputes the memberships from /etc/passwd and
// /etc/group for this process's uid.
func TestUserGroupsLive(t *testing.T) {
	pw, err1 := os.ReadFile("/etc/passwd")
	gr, err2 := os.ReadFile("/etc/group")
	if err1 != nil || err2 != nil {
		t.Skip(err1, err2)
	}
	me := strconv.Itoa(os.Getuid())
	var name, gid string
	for _, l := range strings.Split(string(pw), "\n") {
		if f := strings.Split(l, ":"); len(f) >= 4 && f[2] == me {
			name, gid = f[0], f[3]
			break
		}
	}
	if name == "" {
		t.Skip("this uid has no passwd entry")
	}
	want := []string{gid}
	for _, l := range strings.Split(string(gr), "\n") {
		f := strings.Split(l, ":")
		if len(f) < 4 || strings.HasPrefix(l, "#") {
			continue
		}
		if slices.Contains(strings.Split(f[3], ","), name) && !slices.Contains(want, f[2]) {
			want = append(want, f[2])
		}
	}
	var got []string
	for _, r := range tabletest.Query(t, tabletest.HostEnv(t), "select gid from user_groups where uid = "+me) {
		got = append(got, r["gid"])
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("uid %s: got %v, want %v", me, got, want)
	}
	// Every user in users has at least its primary group.
	users := tabletest.Query(t, tabletest.HostEnv(t), "select distinct uid from users")
	ug := tabletest.Query(t, tabletest.HostEnv(t), "select distinct uid from user_groups")
	if len(ug) != len(users) {
		t.Errorf("user_groups covers %d uids, users has %d", len(ug), len(users))
	}
}
