package system

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

const (
	akED  = "AAAAC3NzaC1lZDI1NTE5AAAAIJQk8cpH/XVjJ061H4sMOEFIVcBusZCjqQi3XhoSvlm2"
	akRSA = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDXqWo6GOncPcmOlPNgHOz8O3mvC4Unvhj94/wRqc4RY9YBVtoHjPUIxFNRYdRjpygsfSic1wxBuIcS4MxNYtuXvEX6W7o83QUufHWU0NWycBx/m6c8KdDxZnsI+83mbewdhvEV896h5NmQ1fUnyrUQVqKrbteSl0NnHR+/VUsSmw=="
	akEC  = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCEDFJ8+XykgSSY3ZgRVs9bWdkRJYXYLX8Xa4hhclexyk0jVmbfGrvV4o+WlO25Xm7JNxFcDw2frepUrrTMZKFI="
)

// akWant is what testdata/authorized_keys/authorized_keys must yield, as
// options|algorithm|key|comment. ssh-keygen -l accepts the same lines
// except the fake security key (not a valid blob; neither gosquery nor
// osquery decodes keys) and the z/OS key ring line (no key).
var akWant = []string{
	"|ssh-ed25519|" + akED + "|alice@laptop",
	"|ssh-rsa|" + akRSA + "|",
	`from="10.0.0.0/8",no-pty|ssh-rsa|` + akRSA + "|ops key (with spaces)",
	`command="echo ssh-rsa fake; ls",no-port-forwarding|ssh-ed25519|` + akED + "|forced command",
	"|ecdsa-sha2-nistp256|" + akEC + "|indented",
	"|sk-ssh-ed25519@openssh.com|AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIJQk8cpH|yubikey",
	`environment="A=\"quoted key\" x"|ssh-ed25519|` + akED + "|escaped quote",
	`zos-key-ring-label="KeyRingOwner/SSHAuthKeysRing uniq-ssh-rsa"|||`,
	`cert-authority,principals="a,b"|ssh-ed25519|` + akED + "|CA key",
	"|ssh-ed25519|" + akED + "|comment\twith tab",
	"|ssh-ed25519|" + akED + "|crlf\r",
	"|ssh-ed25519|" + akED + "|latin1 Jos\xe9",
	"|ssh-ed25519|" + akED + "|no newline at end",
}

func TestParseAuthorizedKeys(t *testing.T) {
	b, err := os.ReadFile("testdata/authorized_keys/authorized_keys")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	acctLines(b, func(l []byte) {
		if k, ok := parseAuthorizedKeysLine(string(l)); ok {
			got = append(got, k.Options+"|"+k.Algorithm+"|"+k.Key+"|"+k.Comment)
		}
	})
	acctCompareLines(t, got, akWant)

	for _, bad := range []string{"", "   ", "#ssh-rsa AAAA", "ssh-rsa", "ssh-rsa \t ", "no-pty", `command="x ssh-rsa AAAA`, "ssh-foo AAAA x", "\r"} {
		if k, ok := parseAuthorizedKeysLine(bad); ok {
			t.Errorf("%q parsed as %+v", bad, k)
		}
	}
	k, ok := parseAuthorizedKeysLine("ssh-ed25519 AAAA   ")
	if !ok || k.Key != "AAAA" || k.Comment != "" {
		t.Errorf("trailing blanks: %+v %v", k, ok)
	}
}

func TestAuthorizedKeysFixture(t *testing.T) {
	env, _ := acctFixture(t)
	rows := tabletest.Query(t, env, "select *, pid_with_namespace from authorized_keys where uid = 1100")
	var got []string
	for _, r := range rows {
		if r["uid"] != "1100" || r["pid_with_namespace"] != "0" {
			t.Errorf("row %v", r)
		}
		got = append(got, r["key_file"]+"|"+r["options"]+"|"+r["algorithm"]+"|"+r["key"]+"|"+r["comment"])
	}
	var want []string
	for _, w := range akWant {
		want = append(want, "/home/alice/.ssh/authorized_keys|"+w)
	}
	want = append(want, "/home/alice/.ssh/authorized_keys2||ecdsa-sha2-nistp521|AAAAE2VjZHNhLXNoYTItbmlzdHA1MjE=|legacy file")
	acctCompareLines(t, got, want)

	count := func(sql string) int { return len(tabletest.Query(t, env, sql)) }
	// bob has no keys; IN lists reach the table (uid is additional).
	if n := count("select * from authorized_keys where uid in (1100, 1101)"); n != len(want) {
		t.Errorf("uid IN: %d rows, want %d", n, len(want))
	}
	// Without uid: the user gosquery runs as. For root that is root and
	// toor, which share /root, so the key is listed twice as in osquery.
	if os.Getuid() == 0 {
		rows := tabletest.Query(t, env, "select uid, comment from authorized_keys")
		if len(rows) != 2 || rows[0]["comment"] != "root@fixture" || rows[0]["uid"] != "0" {
			t.Errorf("default user: %v", rows)
		}
	}
	// A uid missing from passwd is looked up in the include_remote sources.
	rows = tabletest.Query(t, env, "select comment, key_file from authorized_keys where uid = 3000")
	if len(rows) != 1 || rows[0]["comment"] != "extra@remote" || rows[0]["key_file"] != "/home/extra/.ssh/authorized_keys" {
		t.Errorf("extrausers uid: %v", rows)
	}
	if n := count("select * from authorized_keys where uid = 424242"); n != 0 {
		t.Errorf("unknown uid: %d rows", n)
	}
	// pid_with_namespace reads the namespace's homes.
	acctFakeProc(t, env, 555, env.Root)
	env.Root = t.TempDir()
	rows = tabletest.Query(t, env, "select key_file, pid_with_namespace from authorized_keys where uid = 1100 and pid_with_namespace = 555")
	if len(rows) != len(want) || rows[0]["pid_with_namespace"] != "555" || rows[0]["key_file"] != "/home/alice/.ssh/authorized_keys" {
		t.Errorf("namespace: %d rows, first %v", len(rows), rows)
	}
}

// TestAuthorizedKeysLive checks every user's key files on the host: the
// table must report one row per line that starts with a key type (after
// options), counted here independently.
func TestAuthorizedKeysLive(t *testing.T) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Skip(err)
	}
	seenUID := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) < 7 || seenUID[f[2]] || !strings.HasPrefix(f[5], "/") {
			continue
		}
		seenUID[f[2]] = true
		want := 0
		homes := 0
		for _, g := range strings.Split(string(b), "\n") {
			if h := strings.Split(g, ":"); len(h) >= 7 && h[2] == f[2] && strings.HasPrefix(h[5], "/") {
				homes++
				for _, name := range []string{".ssh/authorized_keys", ".ssh/authorized_keys2"} {
					c, err := os.ReadFile(filepath.Join(h[5], name))
					if err != nil {
						continue
					}
					for _, kl := range strings.Split(string(c), "\n") {
						for _, typ := range []string{"ssh-", "ecdsa-", "sk-"} {
							if strings.Contains(kl, typ) && !strings.HasPrefix(strings.TrimSpace(kl), "#") {
								want++
								break
							}
						}
					}
				}
			}
		}
		rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from authorized_keys where uid = "+f[2])
		if len(rows) != want {
			t.Errorf("uid %s (%d homes): %d rows, key files have %d key lines", f[2], homes, len(rows), want)
		}
		for _, r := range rows {
			if r["uid"] != f[2] || !strings.Contains(r["key_file"], "/.ssh/authorized_keys") {
				t.Errorf("row %v", r)
			}
		}
	}
}

func FuzzParseAuthorizedKeysLine(f *testing.F) {
	if b, err := os.ReadFile("testdata/authorized_keys/authorized_keys"); err == nil {
		acctLines(b, func(l []byte) { f.Add(string(l)) })
	}
	f.Add(`a="\"",b="\\" ssh-rsa K c`)
	f.Fuzz(func(t *testing.T, line string) {
		k, ok := parseAuthorizedKeysLine(line)
		if !ok {
			return
		}
		if k.Algorithm == "" {
			if !strings.Contains(k.Options, "zos-key-ring-label=") {
				t.Fatalf("row without key type: %+v", k)
			}
			return
		}
		if !authorizedKeysTypes[k.Algorithm] || k.Key == "" || strings.ContainsAny(k.Key, " \t") {
			t.Fatalf("bad key: %+v", k)
		}
	})
}
