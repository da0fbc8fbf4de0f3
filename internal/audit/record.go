package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Record types this package treats specially (linux/audit.h).
const (
	TypeLogin      uint16 = 1006
	TypeFirstUser  uint16 = 1100
	TypeLastUser   uint16 = 1199
	TypeSyscall    uint16 = 1300
	TypePath       uint16 = 1302
	TypeConfig     uint16 = 1305
	TypeSockaddr   uint16 = 1306
	TypeCwd        uint16 = 1307
	TypeExecve     uint16 = 1309
	TypeObjPID     uint16 = 1318
	TypeEOE        uint16 = 1320
	TypeBPRMFcaps  uint16 = 1321
	TypeSeccomp    uint16 = 1326
	TypeProctitle  uint16 = 1327
	TypeReplace    uint16 = 1329
	TypeAVC        uint16 = 1400
	TypeFirstUser2 uint16 = 2100
	TypeLastUser2  uint16 = 2999
)

// Message is one netlink message of a datagram. Data aliases the datagram.
type Message struct {
	Type  uint16
	Flags uint16
	Seq   uint32
	PID   uint32
	Data  []byte
}

// ErrMalformed is wrapped by every parse error of this package.
var ErrMalformed = errors.New("malformed")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// carriesText reports whether messages of type t are audit records (text),
// as opposed to netlink control (NLMSG_*), audit control replies
// (1000–1099, except LOGIN which is a record) and the binary AUDIT_REPLACE
// liveness probe.
func carriesText(t uint16) bool {
	return t == TypeLogin || (t >= TypeFirstUser && t != TypeReplace)
}

// ParseDatagram splits a datagram read from an audit socket into messages.
// Lengths are checked, never trusted. Records sent to the registered daemon
// carry nlmsg_len = payload length without the 16-byte header (the kernel's
// audit_log_end does that for unicast; multicast copies are fixed up), are
// one per datagram, and are neither NUL-terminated nor 4-aligned, so a
// record type whose nlmsg_len is exactly 16 short of the datagram takes the
// whole datagram. On a malformed message the messages before it are
// returned with the error.
func ParseDatagram(b []byte) ([]Message, error) {
	var out []Message
	for len(b) > 0 {
		if len(b) < nlHeaderLen {
			return out, malformed("%d trailing bytes, shorter than a netlink header", len(b))
		}
		le := binary.LittleEndian
		l := uint64(le.Uint32(b[0:]))
		m := Message{Type: le.Uint16(b[4:]), Flags: le.Uint16(b[6:]), Seq: le.Uint32(b[8:]), PID: le.Uint32(b[12:])}
		rest := uint64(len(b))
		switch {
		case l == rest:
			m.Data = b[nlHeaderLen:]
			return append(out, m), nil
		case l+nlHeaderLen == rest && carriesText(m.Type):
			m.Data = b[nlHeaderLen:]
			return append(out, m), nil
		case l >= nlHeaderLen && l <= rest:
			m.Data = b[nlHeaderLen:l]
			out = append(out, m)
			next := (l + 3) &^ 3
			if next >= rest {
				return out, nil
			}
			b = b[next:]
		default:
			return out, malformed("nlmsg_len %d in a %d-byte datagram (type %d)", l, rest, m.Type)
		}
	}
	return out, nil
}

// Field is one key=value pair of a record. Value is the raw text: quotes
// kept, hex not decoded (whether a value is hex depends on its field).
type Field struct {
	Key, Value string
}

// Record is one parsed audit record: `audit(<sec>.<msec>:<serial>): k=v ...`.
type Record struct {
	Type   uint16
	Time   time.Time // the audit timestamp (coarse CLOCK_REALTIME at syscall entry)
	Serial uint64
	fields []Field
}

// maxRecordFields bounds the fields kept from one record; an EXECVE record
// of ~7.5 KB has at most ~1000.
const maxRecordFields = 4096

// ParseRecord parses the text of a record of type typ. Fields keep their
// order; a repeated key keeps its first value (as osquery). A single-quoted
// value (the msg='...' of user-space records) is kept whole and its inner
// key=value pairs are added after it, so user records expose exe, addr,
// terminal, res like kernel ones. Bare words without '=' (AVC text) are
// skipped.
func ParseRecord(typ uint16, data []byte) (Record, error) {
	r := Record{Type: typ}
	data = bytes.TrimRight(data, "\x00\n ")
	const pre = "audit("
	if !bytes.HasPrefix(data, []byte(pre)) {
		return r, malformed("record type %d does not start with %q", typ, pre)
	}
	end := bytes.IndexByte(data, ')')
	if end < 0 || end > 64 {
		return r, malformed("record type %d: unterminated audit(...) stamp", typ)
	}
	stamp := string(data[len(pre):end])
	dot := strings.IndexByte(stamp, '.')
	colon := strings.IndexByte(stamp, ':')
	if dot <= 0 || colon < dot+2 {
		return r, malformed("record type %d: bad stamp %q", typ, stamp)
	}
	sec, err1 := strconv.ParseInt(stamp[:dot], 10, 64)
	ms, err2 := strconv.ParseUint(stamp[dot+1:colon], 10, 16)
	serial, err3 := strconv.ParseUint(stamp[colon+1:], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || sec < 0 || ms > 999 || sec > 1<<40 {
		return r, malformed("record type %d: bad stamp %q", typ, stamp)
	}
	r.Time = time.Unix(sec, int64(ms)*int64(time.Millisecond))
	r.Serial = serial
	body := data[end+1:]
	body = bytes.TrimPrefix(body, []byte(":"))
	// One allocation for the fields: every field has an '=', so their
	// count bounds the list (growing it was a tenth of the exec-storm CPU).
	text := string(body)
	l := fieldList{out: make([]Field, 0, min(strings.Count(text, "=")+1, maxRecordFields))}
	parseFields(text, &l, 0)
	r.fields = l.out
	return r, nil
}

// linearDedupMax is the list length up to which a repeated key is found
// by a linear scan: a SYSCALL record has about 30 fields, and scanning them
// costs less than building a map for every record.
const linearDedupMax = 48

// fieldList collects fields, keeping the first value of a repeated key;
// the index map is built once the list is long enough (EXECVE records have
// hundreds of fields).
type fieldList struct {
	out  []Field
	seen map[string]struct{}
}

func (l *fieldList) add(k, v string) {
	if len(l.out) >= maxRecordFields {
		return
	}
	if l.seen != nil {
		if _, dup := l.seen[k]; dup {
			return
		}
		l.seen[k] = struct{}{}
	} else {
		for _, f := range l.out {
			if f.Key == k {
				return
			}
		}
	}
	l.out = append(l.out, Field{Key: k, Value: v})
	if l.seen == nil && len(l.out) > linearDedupMax {
		l.seen = make(map[string]struct{}, 64)
		for _, f := range l.out {
			l.seen[f.Key] = struct{}{}
		}
	}
}

// parseFields tokenises `k=v k="v" k='a=b c=d'` into l. depth stops a
// quoted value's inner pairs from recursing further.
func parseFields(s string, l *fieldList, depth int) {
	i := 0
	for i < len(s) && len(l.out) < maxRecordFields {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' {
			i++
		}
		if i >= len(s) || s[i] == ' ' {
			continue // a bare word
		}
		key := s[start:i]
		i++ // '='
		var val string
		quote := byte(0)
		if i < len(s) && (s[i] == '"' || s[i] == '\'') {
			quote = s[i]
			j := strings.IndexByte(s[i+1:], quote)
			if j < 0 {
				val, i = s[i:], len(s) // unterminated: keep to the end
			} else {
				val, i = s[i:i+j+2], i+j+2
			}
		} else {
			j := strings.IndexByte(s[i:], ' ')
			if j < 0 {
				j = len(s) - i
			}
			val, i = s[i:i+j], i+j
		}
		if key == "" {
			continue
		}
		l.add(key, val)
		if quote == '\'' && depth == 0 {
			parseFields(strings.Trim(val, "'"), l, depth+1)
		}
	}
}

// Fields returns the record's fields in order (first occurrence of each key).
func (r Record) Fields() []Field { return r.fields }

// Get returns the raw value of key.
func (r Record) Get(key string) (string, bool) {
	for _, f := range r.fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// Decoded returns the decoded value of key, for fields the kernel logs as
// untrusted strings (exe, comm, cwd, name, proctitle, key, aN): see
// DecodeString. Missing keys give "".
func (r Record) Decoded(key string) string {
	v, _ := r.Get(key)
	return DecodeString(v)
}

// Int returns the decimal value of key.
func (r Record) Int(key string) (int64, bool) {
	v, ok := r.Get(key)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// Hex returns the value of key read as hexadecimal (syscall arguments,
// arch).
func (r Record) Hex(key string) (uint64, bool) {
	v, ok := r.Get(key)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 16, 64)
	return n, err == nil
}

// ID is osquery's audit_id, "<sec>.<msec>:<serial>".
func (r Record) ID() string {
	return fmt.Sprintf("%d.%03d:%d", r.Time.Unix(), r.Time.Nanosecond()/int(time.Millisecond), r.Serial)
}

// DecodeString decodes a value the kernel logs as an untrusted string: a
// "quoted" value when it has no space, quote, control or non-ASCII byte,
// otherwise the bytes in hex. (null) and (none) mean empty. A value that is
// neither quoted nor valid hex is returned as is. Only use it for such
// fields: a number like pid=1234 is valid hex too.
func DecodeString(v string) string {
	switch {
	case v == "" || v == "(null)" || v == "(none)":
		return ""
	case v[0] == '"' || v[0] == '\'':
		q := v[0]
		v = v[1:]
		if n := len(v); n > 0 && v[n-1] == q {
			v = v[:n-1]
		}
		return v
	}
	if b, ok := decodeHex(v); ok {
		return string(b)
	}
	return v
}

func decodeHex(v string) ([]byte, bool) {
	if len(v)%2 != 0 {
		return nil, false
	}
	out := make([]byte, len(v)/2)
	for i := 0; i < len(v); i += 2 {
		hi, ok1 := unhex(v[i])
		lo, ok2 := unhex(v[i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		out[i/2] = hi<<4 | lo
	}
	return out, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// ParseMessages parses the records of a datagram: messages that are not
// records (netlink control, ACKs, AUDIT_REPLACE) are skipped; errors are
// counted, the rest still returned.
func ParseMessages(b []byte) (recs []Record, errs int) {
	msgs, err := ParseDatagram(b)
	if err != nil {
		errs++
	}
	for _, m := range msgs {
		if m.Type < unix.NLMSG_MIN_TYPE || !carriesText(m.Type) {
			continue
		}
		r, err := ParseRecord(m.Type, m.Data)
		if err != nil {
			errs++
			continue
		}
		recs = append(recs, r)
	}
	return recs, errs
}
