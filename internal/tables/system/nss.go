package system

// An NSS-equivalent account enumeration without cgo. osquery calls
// getpwent(3)/getgrent(3), which run the services listed in
// /etc/nsswitch.conf. gosquery reads nsswitch.conf and implements the
// services it can reach from pure Go:
//
//   - files, compat: /etc/passwd and /etc/group (NIS +/- lines skipped);
//   - extrausers (libnss-extrausers): /var/lib/extrausers/{passwd,group};
//   - systemd (nss-systemd): the varlink user database services under
//     /run/systemd/userdb (dynamic users, systemd-homed, ...), as
//     nss-systemd enumerates them;
//   - any other service (ldap, sss, winbind, nis, ...): when
//     systemd-userdbd runs, its io.systemd.NameServiceSwitch service
//     enumerates glibc's NSS on our behalf, which reaches those backends.
//     Without userdbd they are skipped and logged at debug level.
//
// An entry an earlier service already returned (same name and id) is not
// repeated, so the NameServiceSwitch bridge, which also returns the files
// entries, does not double them; entries that share only a name or an id
// are all kept, as getpwent(3) returns them.

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
)

const (
	nssPath        = "/etc/nsswitch.conf"
	nssPasswdFile  = "/etc/passwd"
	nssGroupFile   = "/etc/group"
	nssExtraPasswd = "/var/lib/extrausers/passwd"
	nssExtraGroup  = "/var/lib/extrausers/group"
)

// nssSource is one service of an nsswitch.conf database line.
type nssSource struct {
	Name string
	// Return is set by a [NOTFOUND=return] action after the service: an
	// enumeration ends when that service is exhausted.
	Return bool
}

// parseNsswitch returns the services configured for database db ("passwd",
// "group"). Database names match case-insensitively, as in glibc. A
// missing line yields nil; callers fall back to files.
func parseNsswitch(b []byte, db string) []nssSource {
	var found []nssSource
	acctLines(b, func(line []byte) {
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		name, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok || !strings.EqualFold(string(bytes.TrimSpace(name)), db) || found != nil {
			return
		}
		found = parseNssServices(string(rest))
		if found == nil {
			found = []nssSource{}
		}
	})
	return found
}

func parseNssServices(s string) []nssSource {
	var out []nssSource
	for len(s) > 0 && len(out) < 64 {
		s = strings.TrimLeft(s, " \t\r\v\f")
		if s == "" {
			break
		}
		if s[0] == '[' {
			end := strings.IndexByte(s, ']')
			if end < 0 {
				// An unterminated action list makes glibc ignore the rest.
				break
			}
			if len(out) > 0 && nssNotFoundReturns(s[1:end]) {
				out[len(out)-1].Return = true
			}
			s = s[end+1:]
			continue
		}
		end := strings.IndexAny(s, " \t\r\v\f[")
		if end < 0 {
			end = len(s)
		}
		out = append(out, nssSource{Name: s[:end]})
		s = s[end:]
	}
	return out
}

// nssNotFoundReturns reports whether an action list ("NOTFOUND=return
// UNAVAIL=continue", spaces allowed around '=') makes NOTFOUND return.
func nssNotFoundReturns(actions string) bool {
	f := strings.Fields(strings.ReplaceAll(actions, "=", " = "))
	for i := 0; i+2 < len(f); i++ {
		if f[i+1] == "=" && strings.EqualFold(f[i], "NOTFOUND") && strings.EqualFold(f[i+2], "return") {
			return true
		}
	}
	return false
}

// nssSources reads the services for db under root, defaulting to files.
func nssSources(log *slog.Logger, root acctRoot, db string) []nssSource {
	b, err := root.readFile(nssPath, 1<<20)
	if err != nil && len(b) == 0 {
		log.Debug("nsswitch.conf unreadable, using files", "err", err)
		return []nssSource{{Name: "files"}}
	}
	src := parseNsswitch(b, db)
	if src == nil {
		return []nssSource{{Name: "files"}}
	}
	return src
}

// acctPasswdFile reads and parses a passwd-format file under root.
func acctPasswdFile(log *slog.Logger, root acctRoot, path string) []passwdEntry {
	b, err := root.readFile(path, acctMaxFile)
	if err != nil {
		log.Debug("cannot read passwd file", "path", path, "err", err)
	}
	return parsePasswd(b)
}

// acctGroupFile reads and parses a group-format file under root.
func acctGroupFile(log *slog.Logger, root acctRoot, path string) []groupEntry {
	b, err := root.readFile(path, acctMaxFile)
	if err != nil {
		log.Debug("cannot read group file", "path", path, "err", err)
	}
	return parseGroup(b)
}

// nssPasswd enumerates accounts as getpwent(3) would (see the file
// comment for which services are reached).
func nssPasswd(ctx context.Context, log *slog.Logger, root acctRoot) []passwdEntry {
	type key struct {
		name string
		id   uint32
	}
	var out []passwdEntry
	seen := map[key]bool{}
	add := func(es []passwdEntry) {
		fresh := map[key]bool{}
		for _, e := range es {
			k := key{e.Name, e.UID}
			if seen[k] {
				continue
			}
			fresh[k] = true
			out = append(out, e)
		}
		for k := range fresh {
			seen[k] = true
		}
	}
	bridged := false
	for _, src := range nssSources(log, root, "passwd") {
		if ctx.Err() != nil {
			break
		}
		switch src.Name {
		case "files", "compat":
			add(acctPasswdFile(log, root, nssPasswdFile))
		case "extrausers":
			add(acctPasswdFile(log, root, nssExtraPasswd))
		case "systemd":
			add(userdbUsers(ctx, log, root, false))
		default:
			if !bridged {
				bridged = true
				add(userdbUsers(ctx, log, root, true))
			}
		}
		if src.Return {
			break
		}
	}
	return out
}

// nssGroups enumerates groups as getgrent(3) would. Memberships known to
// the user database (GetMemberships) are merged into the members lists.
func nssGroups(ctx context.Context, log *slog.Logger, root acctRoot) []groupEntry {
	type key struct {
		name string
		id   uint32
	}
	var out []groupEntry
	seen := map[key]bool{}
	add := func(gs []groupEntry) {
		fresh := map[key]bool{}
		for _, g := range gs {
			k := key{g.Name, g.GID}
			if seen[k] {
				continue
			}
			fresh[k] = true
			out = append(out, g)
		}
		for k := range fresh {
			seen[k] = true
		}
	}
	bridged := false
	for _, src := range nssSources(log, root, "group") {
		if ctx.Err() != nil {
			break
		}
		switch src.Name {
		case "files", "compat":
			add(acctGroupFile(log, root, nssGroupFile))
		case "extrausers":
			add(acctGroupFile(log, root, nssExtraGroup))
		case "systemd":
			add(userdbGroups(ctx, log, root, false))
		default:
			if !bridged {
				bridged = true
				add(userdbGroups(ctx, log, root, true))
			}
		}
		if src.Return {
			break
		}
	}
	return out
}
