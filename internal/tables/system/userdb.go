package system

// A minimal client for systemd's user database (userdb) varlink services,
// which is what nss-systemd talks to. Each service listens on a socket in
// /run/systemd/userdb named after itself; a call is a JSON object ended by
// a NUL byte, and with "more": true the service streams one reply per
// record, each ended by NUL, the last without "continues": true.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

const (
	userdbDir         = "/run/systemd/userdb"
	userdbMultiplexer = "io.systemd.Multiplexer"
	userdbNSSBridge   = "io.systemd.NameServiceSwitch"
	// userdbTimeout bounds one call: a wedged service must not hang a query.
	userdbTimeout = 3 * time.Second
	// userdbMaxMessage bounds one reply; records carry keys and settings
	// but are far below this.
	userdbMaxMessage = 1 << 20
	// userdbMaxRecords bounds the records taken from one service.
	userdbMaxRecords = 1 << 20
)

// userdbServices returns the sockets to query under root. nss-systemd's
// enumeration skips the multiplexer and the NSS bridge (the bridge would
// loop back into NSS); with bridge set, only the bridge is returned.
func userdbServices(root acctRoot, bridge bool) []string {
	dir := root.path(userdbDir)
	if bridge {
		p := dir + "/" + userdbNSSBridge
		if st, err := os.Stat(p); err == nil && st.Mode().Type() == os.ModeSocket {
			return []string{userdbNSSBridge}
		}
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.Type() != os.ModeSocket || n == userdbMultiplexer || n == userdbNSSBridge {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// userdbCall makes one streaming call and hands each reply's parameters to
// fn. "No record" and "enumeration not supported" errors end the stream
// without an error, because they mean an empty result.
func userdbCall(ctx context.Context, socket, method, service string, fn func(params json.RawMessage)) error {
	ctx, cancel := context.WithTimeout(ctx, userdbTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	req, err := json.Marshal(map[string]any{
		"method":     method,
		"parameters": map[string]any{"service": service},
		"more":       true,
	})
	if err != nil {
		return err
	}
	if _, err := conn.Write(append(req, 0)); err != nil {
		return err
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	for n := 0; n < userdbMaxRecords; n++ {
		msg, err := userdbReadMessage(br)
		if err != nil {
			return err
		}
		var reply struct {
			Parameters json.RawMessage `json:"parameters"`
			Continues  bool            `json:"continues"`
			Error      string          `json:"error"`
		}
		if err := json.Unmarshal(msg, &reply); err != nil {
			return fmt.Errorf("userdb %s: bad reply: %w", service, err)
		}
		switch reply.Error {
		case "":
		case "io.systemd.UserDatabase.NoRecordFound", "io.systemd.UserDatabase.EnumerationNotSupported":
			return nil
		default:
			return fmt.Errorf("userdb %s: %s", service, reply.Error)
		}
		fn(reply.Parameters)
		if !reply.Continues {
			return nil
		}
	}
	return fmt.Errorf("userdb %s: more than %d records", service, userdbMaxRecords)
}

// userdbReadMessage reads one NUL-terminated message of bounded size.
func userdbReadMessage(br *bufio.Reader) ([]byte, error) {
	var msg []byte
	for {
		chunk, err := br.ReadSlice(0)
		if len(msg)+len(chunk) > userdbMaxMessage {
			return nil, errors.New("userdb: reply too large")
		}
		msg = append(msg, chunk...)
		switch {
		case err == nil:
			return msg[:len(msg)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}

// userdbUserRecord holds the fields of a JSON user record
// (https://systemd.io/USER_RECORD) that NSS exposes.
type userdbUserRecord struct {
	UserName      string                       `json:"userName"`
	UID           *uint64                      `json:"uid"`
	GID           *uint64                      `json:"gid"`
	RealName      string                       `json:"realName"`
	HomeDirectory string                       `json:"homeDirectory"`
	Shell         string                       `json:"shell"`
	Disposition   string                       `json:"disposition"`
	Binding       map[string]userdbUserBinding `json:"binding"`
}

// userdbUserBinding is the per-machine part of a record (systemd-homed
// keeps the home directory and ids there).
type userdbUserBinding struct {
	UID           *uint64 `json:"uid"`
	GID           *uint64 `json:"gid"`
	HomeDirectory string  `json:"homeDirectory"`
}

type userdbGroupRecord struct {
	GroupName string                       `json:"groupName"`
	GID       *uint64                      `json:"gid"`
	Members   []string                     `json:"members"`
	Binding   map[string]userdbUserBinding `json:"binding"`
}

// parseUserdbUser turns a record into a passwd entry with nss-systemd's
// defaults: gid falls back to the uid, the gecos to the user name, the
// home to /root or /, and the shell to /bin/sh for root, /bin/bash for
// regular users and nologin for the rest. Records without a uid cannot be
// NSS entries and are dropped.
func parseUserdbUser(b []byte, machineID string) (passwdEntry, bool) {
	var r userdbUserRecord
	if err := json.Unmarshal(b, &r); err != nil || r.UserName == "" {
		return passwdEntry{}, false
	}
	if bd, ok := r.Binding[machineID]; ok && machineID != "" {
		if bd.UID != nil {
			r.UID = bd.UID
		}
		if bd.GID != nil {
			r.GID = bd.GID
		}
		if bd.HomeDirectory != "" {
			r.HomeDirectory = bd.HomeDirectory
		}
	}
	if r.UID == nil || *r.UID > 0xfffffffe {
		return passwdEntry{}, false
	}
	e := passwdEntry{Name: r.UserName, Passwd: "x", UID: uint32(*r.UID), GID: uint32(*r.UID)}
	if r.GID != nil && *r.GID <= 0xfffffffe {
		e.GID = uint32(*r.GID)
	}
	e.Gecos = r.RealName
	if e.Gecos == "" {
		e.Gecos = r.UserName
	}
	e.Dir = r.HomeDirectory
	if e.Dir == "" {
		e.Dir = "/"
		if e.UID == 0 {
			e.Dir = "/root"
		}
	}
	e.Shell = r.Shell
	if e.Shell == "" {
		regular := r.Disposition == "regular" || (r.Disposition == "" && e.UID >= 1000 && e.UID < 60000)
		switch {
		case e.UID == 0:
			e.Shell = "/bin/sh"
		case regular:
			e.Shell = "/bin/bash"
		default:
			e.Shell = "/usr/sbin/nologin"
		}
	}
	return e, true
}

func parseUserdbGroup(b []byte, machineID string) (groupEntry, bool) {
	var r userdbGroupRecord
	if err := json.Unmarshal(b, &r); err != nil || r.GroupName == "" {
		return groupEntry{}, false
	}
	if bd, ok := r.Binding[machineID]; ok && machineID != "" && bd.GID != nil {
		r.GID = bd.GID
	}
	if r.GID == nil || *r.GID > 0xfffffffe {
		return groupEntry{}, false
	}
	return groupEntry{Name: r.GroupName, Passwd: "x", GID: uint32(*r.GID), Members: r.Members}, true
}

// userdbMachineID reads /etc/machine-id, which selects a record's binding.
func userdbMachineID(root acctRoot) string {
	b, err := root.readFile("/etc/machine-id", 4096)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// userdbRecordParams is the parameters object of a GetUserRecord or
// GetGroupRecord reply.
type userdbRecordParams struct {
	Record json.RawMessage `json:"record"`
}

// userdbUsers enumerates user records from the userdb services (or from
// the NSS bridge alone when bridge is set).
func userdbUsers(ctx context.Context, log *slog.Logger, root acctRoot, bridge bool) []passwdEntry {
	services := userdbServices(root, bridge)
	if len(services) == 0 {
		if bridge {
			log.Debug("NSS service has no pure-Go equivalent and systemd-userdbd is not running; skipped")
		}
		return nil
	}
	machineID := userdbMachineID(root)
	var out []passwdEntry
	for _, svc := range services {
		err := userdbCall(ctx, root.path(userdbDir)+"/"+svc, "io.systemd.UserDatabase.GetUserRecord", svc, func(p json.RawMessage) {
			var rp userdbRecordParams
			if json.Unmarshal(p, &rp) != nil {
				return
			}
			if e, ok := parseUserdbUser(rp.Record, machineID); ok {
				out = append(out, e)
			}
		})
		if err != nil {
			log.Debug("userdb user enumeration failed", "service", svc, "err", err)
		}
	}
	return out
}

// userdbGroups enumerates group records and merges the memberships the
// services report (GetMemberships) into their member lists.
func userdbGroups(ctx context.Context, log *slog.Logger, root acctRoot, bridge bool) []groupEntry {
	services := userdbServices(root, bridge)
	if len(services) == 0 {
		if bridge {
			log.Debug("NSS service has no pure-Go equivalent and systemd-userdbd is not running; skipped")
		}
		return nil
	}
	machineID := userdbMachineID(root)
	var out []groupEntry
	for _, svc := range services {
		socket := root.path(userdbDir) + "/" + svc
		err := userdbCall(ctx, socket, "io.systemd.UserDatabase.GetGroupRecord", svc, func(p json.RawMessage) {
			var rp userdbRecordParams
			if json.Unmarshal(p, &rp) != nil {
				return
			}
			if g, ok := parseUserdbGroup(rp.Record, machineID); ok {
				out = append(out, g)
			}
		})
		if err != nil {
			log.Debug("userdb group enumeration failed", "service", svc, "err", err)
		}
		err = userdbCall(ctx, socket, "io.systemd.UserDatabase.GetMemberships", svc, func(p json.RawMessage) {
			var m struct {
				UserName  string `json:"userName"`
				GroupName string `json:"groupName"`
			}
			if json.Unmarshal(p, &m) != nil || m.UserName == "" {
				return
			}
			for i := range out {
				if out[i].Name == m.GroupName && !slices.Contains(out[i].Members, m.UserName) {
					out[i].Members = append(out[i].Members, m.UserName)
				}
			}
		})
		if err != nil {
			log.Debug("userdb membership enumeration failed", "service", svc, "err", err)
		}
	}
	return out
}
