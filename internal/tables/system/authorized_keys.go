package system

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/gosquery/gosquery/internal/table"
)

var authorizedKeysSpec = table.Spec{
	Name:        "authorized_keys",
	Description: "A line-delimited authorized_keys table.",
	Columns: []table.Column{
		table.BigInt("uid").Additional(),
		table.Text("algorithm"),
		table.Text("key"),
		table.Text("options"),
		table.Text("comment"),
		table.Text("key_file"),
		table.Integer("pid_with_namespace").Additional().Hidden(),
	},
	Attributes: table.UserData | table.NoPkey,
}

type authorizedKeyRow struct {
	UID              int64  `col:"uid"`
	Algorithm        string `col:"algorithm"`
	Key              string `col:"key"`
	Options          string `col:"options"`
	Comment          string `col:"comment"`
	KeyFile          string `col:"key_file"`
	PIDWithNamespace int64  `col:"pid_with_namespace"`
}

// authorizedKeysFiles are the files sshd reads by default, relative to the
// home directory (AuthorizedKeysFile's default).
var authorizedKeysFiles = []string{".ssh/authorized_keys", ".ssh/authorized_keys2"}

// authorizedKeysMax caps one authorized_keys file.
const authorizedKeysMax = 16 << 20

// authorizedKeysTypes are the key types OpenSSH accepts in authorized_keys.
// osquery recognises only ssh-rsa, ssh-ed25519 and the three
// ecdsa-sha2-nistp* types; the others (security keys, DSA, certificates,
// rsa-sha2-*) are reported too, because a key sshd would accept that the
// table hides is worse than an extra row.
var authorizedKeysTypes = map[string]bool{
	"ssh-rsa":                            true,
	"ssh-ed25519":                        true,
	"ecdsa-sha2-nistp256":                true,
	"ecdsa-sha2-nistp384":                true,
	"ecdsa-sha2-nistp521":                true,
	"ssh-dss":                            true,
	"rsa-sha2-256":                       true,
	"rsa-sha2-512":                       true,
	"sk-ssh-ed25519@openssh.com":         true,
	"sk-ecdsa-sha2-nistp256@openssh.com": true,
	"webauthn-sk-ecdsa-sha2-nistp256@openssh.com": true,
	"ssh-xmss@openssh.com":                        true,
	"ssh-rsa-cert-v01@openssh.com":                true,
	"ssh-dss-cert-v01@openssh.com":                true,
	"ssh-ed25519-cert-v01@openssh.com":            true,
	"ecdsa-sha2-nistp256-cert-v01@openssh.com":    true,
	"ecdsa-sha2-nistp384-cert-v01@openssh.com":    true,
	"ecdsa-sha2-nistp521-cert-v01@openssh.com":    true,
	"sk-ssh-ed25519-cert-v01@openssh.com":         true,
	"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com": true,
	"ssh-xmss-cert-v01@openssh.com":               true,
	"rsa-sha2-256-cert-v01@openssh.com":           true,
	"rsa-sha2-512-cert-v01@openssh.com":           true,
}

// authorizedKey is one parsed authorized_keys line.
type authorizedKey struct {
	Options   string
	Algorithm string
	Key       string
	Comment   string
}

func init() { table.Register(authorizedKeysSpec, generateAuthorizedKeys) }

// generateAuthorizedKeys reads ~/.ssh/authorized_keys and authorized_keys2
// of the users named by `uid = ?` (or of the user gosquery runs as, the
// user_data rule; see acctUserDataUsers), one row per key line. key_file
// is the path as the host (or the pid_with_namespace namespace) names it.
// Users whose home directory is empty or relative are skipped: osquery
// would resolve that against its own working directory.
func generateAuthorizedKeys(ctx context.Context, q *table.Query, emit func(authorizedKeyRow)) error {
	for _, root := range acctRoots(q) {
		for _, u := range acctUserDataUsers(ctx, q, root) {
			if !filepath.IsAbs(u.Dir) {
				continue
			}
			for _, name := range authorizedKeysFiles {
				if ctx.Err() != nil {
					return nil
				}
				keyFile := filepath.Join(u.Dir, name)
				b, err := root.readFile(keyFile, authorizedKeysMax)
				if err != nil {
					if !errors.Is(err, fs.ErrNotExist) {
						q.Env.Log.Debug("authorized_keys: cannot read", "path", keyFile, "err", err)
					}
					if len(b) == 0 {
						continue
					}
				}
				acctLines(b, func(line []byte) {
					k, ok := parseAuthorizedKeysLine(string(line))
					if !ok {
						return
					}
					emit(authorizedKeyRow{
						UID:              int64(u.UID),
						Algorithm:        k.Algorithm,
						Key:              k.Key,
						Options:          k.Options,
						Comment:          k.Comment,
						KeyFile:          keyFile,
						PIDWithNamespace: root.pid,
					})
				})
			}
		}
	}
	return nil
}

// parseAuthorizedKeysLine parses one line as sshd(8) reads it:
// [options] keytype base64-key [comment]. Options are a comma-separated
// list that may contain double-quoted strings with spaces (and \" inside),
// so the key type is found after the options field ends, not by searching
// the line for a key type name, which would be fooled by
// command="... ssh-rsa ..." (osquery's approach). The comment is the rest
// of the line after the key, as in osquery. Lines without a known key type
// are skipped, except that, like osquery, a line carrying a z/OS
// zos-key-ring-label= option (a key held in a RACF key ring) is reported
// with the whole line as options.
func parseAuthorizedKeysLine(line string) (authorizedKey, bool) {
	line = strings.TrimLeft(line, " \t")
	if line == "" || line[0] == '#' || line[0] == '\r' {
		return authorizedKey{}, false
	}
	var k authorizedKey
	typ, after := authorizedKeysToken(line)
	if !authorizedKeysTypes[typ] {
		end, ok := authorizedKeysOptionsEnd(line)
		if ok {
			k.Options = line[:end]
			typ, after = authorizedKeysToken(strings.TrimLeft(line[end:], " \t"))
		}
		if !ok || !authorizedKeysTypes[typ] {
			if authorizedKeysKeyRing(line) {
				return authorizedKey{Options: line}, true
			}
			return authorizedKey{}, false
		}
	}
	k.Algorithm = typ
	after = strings.TrimLeft(after, " \t")
	k.Key, after = authorizedKeysToken(after)
	if k.Key == "" {
		return authorizedKey{}, false
	}
	k.Comment = strings.TrimLeft(after, " \t")
	return k, true
}

// authorizedKeysToken splits off the text up to the next space or tab.
func authorizedKeysToken(s string) (tok, rest string) {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// authorizedKeysOptionsEnd finds where the options field ends: at the
// first space or tab outside double quotes, with \" not ending a quote, as
// OpenSSH's sshkey_advance_past_options. Unterminated quotes are an error.
func authorizedKeysOptionsEnd(s string) (int, bool) {
	quoted := false
	i := 0
	for ; i < len(s) && (quoted || (s[i] != ' ' && s[i] != '\t')); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '"':
			i++
		case s[i] == '"':
			quoted = !quoted
		}
	}
	return i, !quoted
}

// authorizedKeysKeyRing reports a zos-key-ring-label= option.
func authorizedKeysKeyRing(line string) bool {
	for opt := range strings.SplitSeq(line, ",") {
		if strings.HasPrefix(opt, "zos-key-ring-label=") {
			return true
		}
	}
	return false
}
