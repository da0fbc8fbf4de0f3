package system

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestParseNsswitch(t *testing.T) {
	conf := `# comment passwd: ldap
passwd:         files systemd
Group:   files [NOTFOUND=return] extrausers[ !UNAVAIL = return ]sss
shadow: files [ NOTFOUND = return ] ldap
hosts: files dns
netgroup:
broken: files [NOTFOUND=return ldap
passwd: ldap
`
	str := func(s []nssSource) string {
		var parts []string
		for _, x := range s {
			p := x.Name
			if x.Return {
				p += "!"
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, " ")
	}
	cases := map[string]string{
		"passwd":   "files systemd", // the first line wins
		"group":    "files! extrausers sss",
		"shadow":   "files! ldap",
		"netgroup": "",
		"broken":   "files",
	}
	for db, want := range cases {
		got := parseNsswitch([]byte(conf), db)
		if got == nil {
			t.Errorf("%s: no line found", db)
			continue
		}
		if str(got) != want {
			t.Errorf("%s: got %q, want %q", db, str(got), want)
		}
	}
	if got := parseNsswitch([]byte(conf), "aliases"); got != nil {
		t.Errorf("aliases: got %v, want nil", got)
	}
}

// userdbFake serves varlink calls on a unix socket. handle returns the
// replies (JSON objects without the NUL terminator) for a method.
func userdbFake(t *testing.T, socket string, handle func(method, service string) []string) *atomic.Int32 {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var calls atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			calls.Add(1)
			go func() {
				defer c.Close()
				msg, err := bufio.NewReader(c).ReadBytes(0)
				if err != nil {
					return
				}
				var req struct {
					Method     string `json:"method"`
					Parameters struct {
						Service string `json:"service"`
					} `json:"parameters"`
					More bool `json:"more"`
				}
				if json.Unmarshal(msg[:len(msg)-1], &req) != nil || !req.More {
					return
				}
				for _, r := range handle(req.Method, req.Parameters.Service) {
					if _, err := c.Write(append([]byte(r), 0)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return &calls
}

func TestUserdbThroughTables(t *testing.T) {
	env, dir := acctFixture(t)
	if err := os.WriteFile(filepath.Join(dir, "etc/nsswitch.conf"), []byte("passwd: files systemd\ngroup: files systemd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/machine-id"), []byte("0123456789abcdef0123456789abcdef\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	udb := filepath.Join(dir, "run/systemd/userdb")
	var wrongService atomic.Bool
	userdbFake(t, filepath.Join(udb, "io.systemd.DynamicUser"), func(method, service string) []string {
		if service != "io.systemd.DynamicUser" {
			wrongService.Store(true)
		}
		switch method {
		case "io.systemd.UserDatabase.GetUserRecord":
			return []string{
				`{"parameters":{"record":{"userName":"dyn-svc","uid":61184,"gid":61184,"realName":"Dynamic User","homeDirectory":"/","shell":"/usr/sbin/nologin","disposition":"dynamic"},"incomplete":false},"continues":true}`,
				`{"parameters":{"record":{"userName":"nouid"},"incomplete":false},"continues":true}`,
				`{"parameters":{"record":{"userName":"carol","disposition":"regular","binding":{"0123456789abcdef0123456789abcdef":{"uid":60100,"gid":60100,"homeDirectory":"/home/carol"}}},"incomplete":false},"continues":true}`,
				`{"parameters":{"record":{"userName":"root","uid":0,"gid":0,"homeDirectory":"/root","shell":"/bin/bash","realName":"root"},"incomplete":false}}`,
			}
		case "io.systemd.UserDatabase.GetGroupRecord":
			return []string{
				`{"parameters":{"record":{"groupName":"dyn-svc","gid":61184},"incomplete":false},"continues":true}`,
				`{"parameters":{"record":{"groupName":"carol","gid":60100,"members":["carol"]},"incomplete":false}}`,
			}
		case "io.systemd.UserDatabase.GetMemberships":
			return []string{`{"parameters":{"userName":"carol","groupName":"dyn-svc"}}`}
		}
		return []string{`{"error":"org.varlink.service.MethodNotFound","parameters":{}}`}
	})
	muxCalls := userdbFake(t, filepath.Join(udb, "io.systemd.Multiplexer"), func(string, string) []string {
		return []string{`{"error":"io.systemd.UserDatabase.NoRecordFound"}`}
	})
	if err := os.WriteFile(filepath.Join(udb, "not-a-socket"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	rows := tabletest.Query(t, env, "select username, uid, gid, description, directory, shell from users where include_remote = 1 and uid >= 60000 and uid < 65534")
	got := map[string]map[string]string{}
	for _, r := range rows {
		got[r["username"]] = r
	}
	if r := got["dyn-svc"]; r == nil || r["uid"] != "61184" || r["description"] != "Dynamic User" || r["shell"] != "/usr/sbin/nologin" {
		t.Errorf("dyn-svc: %v", r)
	}
	// carol's ids and home come from this machine's binding; the shell
	// and gecos from nss-systemd's defaults.
	if r := got["carol"]; r == nil || r["uid"] != "60100" || r["gid"] != "60100" || r["directory"] != "/home/carol" || r["shell"] != "/bin/bash" || r["description"] != "carol" {
		t.Errorf("carol: %v", r)
	}
	if _, ok := got["nouid"]; ok || len(rows) != 2 {
		t.Errorf("rows %v", rows)
	}
	// root from userdb repeats files' root (same name and uid): once.
	if rows := tabletest.Query(t, env, "select username from users where include_remote = 1 and username = 'root'"); len(rows) != 1 {
		t.Errorf("root: %d rows", len(rows))
	}
	// Without include_remote only /etc/passwd is read.
	if rows := tabletest.Query(t, env, "select username from users where uid = 61184"); len(rows) != 0 {
		t.Errorf("userdb consulted without include_remote: %v", rows)
	}
	rows = tabletest.Query(t, env, "select groupname from groups where gid in (61184, 60100)")
	if len(rows) != 2 || rows[0]["groupname"] != "dyn-svc" || rows[1]["groupname"] != "carol" {
		t.Errorf("groups: %v", rows)
	}
	var ug []string
	for _, r := range tabletest.Query(t, env, "select gid from user_groups where uid = 60100") {
		ug = append(ug, r["gid"])
	}
	// devs in /etc/group lists carol too.
	if strings.Join(ug, ",") != "60100,2000,61184" {
		t.Errorf("user_groups carol: %v", ug)
	}
	// shell_history and authorized_keys fall back to userdb for a uid
	// missing from passwd.
	if err := os.MkdirAll(filepath.Join(dir, "home/carol"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "home/carol/.bash_history"), []byte("homed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rows = tabletest.Query(t, env, "select command, history_file from shell_history where uid = 60100")
	if len(rows) != 1 || rows[0]["command"] != "homed" || rows[0]["history_file"] != "/home/carol/.bash_history" {
		t.Errorf("shell_history carol: %v", rows)
	}
	if muxCalls.Load() != 0 {
		t.Errorf("the multiplexer was queried %d times; nss-systemd skips it", muxCalls.Load())
	}
	if wrongService.Load() {
		t.Errorf("a call named another service than the socket")
	}
}

func TestUserdbNSSBridge(t *testing.T) {
	env, dir := acctFixture(t)
	conf := "passwd: files ldap [NOTFOUND=return] systemd\ngroup: sss\n"
	if err := os.WriteFile(filepath.Join(dir, "etc/nsswitch.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	udb := filepath.Join(dir, "run/systemd/userdb")
	userdbFake(t, filepath.Join(udb, "io.systemd.NameServiceSwitch"), func(method, _ string) []string {
		switch method {
		case "io.systemd.UserDatabase.GetUserRecord":
			return []string{
				`{"parameters":{"record":{"userName":"root","uid":0,"gid":0,"realName":"root","homeDirectory":"/root","shell":"/bin/bash"}},"continues":true}`,
				`{"parameters":{"record":{"userName":"ldapuser","uid":5000,"gid":5000,"realName":"LDAP User","homeDirectory":"/home/ldapuser","shell":"/bin/zsh"}}}`,
			}
		case "io.systemd.UserDatabase.GetGroupRecord":
			return []string{`{"parameters":{"record":{"groupName":"ldapgroup","gid":5000,"members":["alice"]}}}`}
		}
		return []string{`{"error":"io.systemd.UserDatabase.NoRecordFound"}`}
	})
	// systemd comes after [NOTFOUND=return]: its services must not be asked.
	dynCalls := userdbFake(t, filepath.Join(udb, "io.systemd.DynamicUser"), func(string, string) []string {
		return []string{`{"error":"io.systemd.UserDatabase.NoRecordFound"}`}
	})
	rows := tabletest.Query(t, env, "select username, directory from users where include_remote = 1 and uid in (0, 5000)")
	var names []string
	for _, r := range rows {
		names = append(names, r["username"])
	}
	if strings.Join(names, ",") != "root,toor,ldapuser" {
		t.Errorf("users: %v", names)
	}
	if dynCalls.Load() != 0 {
		t.Errorf("service after [NOTFOUND=return] was queried")
	}
	// group: sss only, reached through the bridge.
	rows = tabletest.Query(t, env, "select groupname from groups")
	if len(rows) != 1 || rows[0]["groupname"] != "ldapgroup" {
		t.Errorf("groups: %v", rows)
	}
}

func TestUserdbCallBounds(t *testing.T) {
	dir := t.TempDir()
	silent := filepath.Join(dir, "silent")
	l, err := net.Listen("unix", silent)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // never answers
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = userdbCall(ctx, silent, "io.systemd.UserDatabase.GetUserRecord", "x", func(json.RawMessage) {})
	if err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("silent service: err %v after %v", err, time.Since(start))
	}

	huge := filepath.Join(dir, "huge")
	userdbFake(t, huge, func(string, string) []string {
		return []string{`{"parameters":{"pad":"` + strings.Repeat("x", userdbMaxMessage) + `"}}`}
	})
	err = userdbCall(context.Background(), huge, "m", "huge", func(json.RawMessage) { t.Error("oversized reply delivered") })
	if err == nil {
		t.Errorf("oversized reply accepted")
	}

	errs := filepath.Join(dir, "errs")
	userdbFake(t, errs, func(string, string) []string {
		return []string{`{"parameters":{"record":{}},"continues":true}`, `{"error":"io.systemd.UserDatabase.BadService"}`}
	})
	n := 0
	err = userdbCall(context.Background(), errs, "m", "errs", func(json.RawMessage) { n++ })
	if err == nil || n != 1 {
		t.Errorf("error reply: err %v after %d records", err, n)
	}
}

func FuzzParseUserdbRecord(f *testing.F) {
	f.Add([]byte(`{"userName":"a","uid":1,"gid":2,"realName":"A","homeDirectory":"/h","shell":"/bin/sh"}`), "m")
	f.Add([]byte(`{"userName":"b","binding":{"m":{"uid":70000,"homeDirectory":"/home/b"}}}`), "m")
	f.Add([]byte(`{"groupName":"g","gid":4294967295,"members":["a",""]}`), "")
	f.Add([]byte(`{"userName":"x","uid":-1}`), "")
	f.Fuzz(func(t *testing.T, b []byte, machine string) {
		if e, ok := parseUserdbUser(b, machine); ok && (e.Name == "" || e.Dir == "" || e.Shell == "" || e.UID == 0xffffffff) {
			t.Fatalf("incomplete entry %+v", e)
		}
		if g, ok := parseUserdbGroup(b, machine); ok && (g.Name == "" || g.GID == 0xffffffff) {
			t.Fatalf("bad group %+v", g)
		}
	})
}

func FuzzParseNsswitch(f *testing.F) {
	f.Add([]byte("passwd: files [NOTFOUND=return] systemd\n"), "passwd")
	f.Add([]byte("passwd:[\ngroup: a b c [x=y\n"), "group")
	f.Fuzz(func(t *testing.T, b []byte, db string) {
		for _, s := range parseNsswitch(b, db) {
			if s.Name == "" || strings.ContainsAny(s.Name, " \t[") {
				t.Fatalf("bad service %q", s.Name)
			}
		}
	})
}
