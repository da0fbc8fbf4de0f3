package audit

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unicastDatagram frames a record as the kernel unicasts it to the daemon:
// nlmsg_len is the payload length without the header.
func unicastDatagram(typ uint16, text string) []byte {
	b := make([]byte, 16+len(text))
	binary.LittleEndian.PutUint32(b[0:], uint32(len(text)))
	binary.LittleEndian.PutUint16(b[4:], typ)
	copy(b[16:], text)
	return b
}

// multicastDatagram frames a record as multicast copies carry it.
func multicastDatagram(typ uint16, text string) []byte {
	b := unicastDatagram(typ, text)
	binary.LittleEndian.PutUint32(b[0:], uint32(len(b)))
	return b
}

const syscallText = `audit(1795736730.705:7055): arch=c000003e syscall=59 success=yes exit=0 a0=55d1 a1=55d2 a2=55d3 a3=0 items=2 ppid=16109 pid=26259 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="true" exe="/usr/bin/true" key=(null)`

func TestParseDatagramFraming(t *testing.T) {
	for name, d := range map[string][]byte{
		"unicast":   unicastDatagram(TypeSyscall, syscallText),
		"multicast": multicastDatagram(TypeSyscall, syscallText),
	} {
		msgs, err := ParseDatagram(d)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%s: %d messages, %v", name, len(msgs), err)
		}
		if msgs[0].Type != TypeSyscall || string(msgs[0].Data) != syscallText {
			t.Errorf("%s: type %d data %q", name, msgs[0].Type, msgs[0].Data)
		}
	}
	// Short records: a unicast length below the header size is still the quirk.
	d := unicastDatagram(TypeEOE, "audit(1.000:1): ")
	if msgs, err := ParseDatagram(d); err != nil || len(msgs) != 1 || string(msgs[0].Data) != "audit(1.000:1): " {
		t.Errorf("short unicast: %v %v", msgs, err)
	}
	// Two aligned control messages in one datagram (an ACK then DONE).
	ack := make([]byte, 36)
	binary.LittleEndian.PutUint32(ack[0:], 36)
	binary.LittleEndian.PutUint16(ack[4:], 2) // NLMSG_ERROR
	binary.LittleEndian.PutUint32(ack[8:], 7)
	done := make([]byte, 20)
	binary.LittleEndian.PutUint32(done[0:], 20)
	binary.LittleEndian.PutUint16(done[4:], 3)
	binary.LittleEndian.PutUint32(done[8:], 7)
	msgs, err := ParseDatagram(append(ack, done...))
	if err != nil || len(msgs) != 2 || msgs[0].Type != 2 || msgs[1].Type != 3 || msgs[1].Seq != 7 || len(msgs[0].Data) != 20 {
		t.Errorf("two messages: %+v %v", msgs, err)
	}
	// Hostile lengths: never trusted, never a panic.
	for name, d := range map[string][]byte{
		"short header": make([]byte, 15),
		"len too big":  func() []byte { b := multicastDatagram(1300, "x"); binary.LittleEndian.PutUint32(b, 1000); return b }(),
		"len max": func() []byte {
			b := multicastDatagram(1300, "x")
			binary.LittleEndian.PutUint32(b, 0xffffffff)
			return b
		}(),
		"len 3": func() []byte {
			b := multicastDatagram(2, "xxxxxxxxxxxx")
			binary.LittleEndian.PutUint32(b, 3)
			return b
		}(),
		"trailing bytes": append(multicastDatagram(2, "abcd"), 1, 2, 3),
	} {
		if _, err := ParseDatagram(d); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if msgs, err := ParseDatagram(nil); err != nil || msgs != nil {
		t.Errorf("empty: %v %v", msgs, err)
	}
}

func TestParseMessagesSkipsControlAndReplace(t *testing.T) {
	// AUDIT_REPLACE carries a binary pid with a normal nlmsg_len.
	replace := make([]byte, 20)
	binary.LittleEndian.PutUint32(replace[0:], 20)
	binary.LittleEndian.PutUint16(replace[4:], TypeReplace)
	binary.LittleEndian.PutUint32(replace[16:], 4242)
	recs, errs := ParseMessages(replace)
	if len(recs) != 0 || errs != 0 {
		t.Errorf("replace: %v %d", recs, errs)
	}
	recs, errs = ParseMessages(unicastDatagram(TypeSyscall, syscallText))
	if len(recs) != 1 || errs != 0 {
		t.Errorf("syscall: %v %d", recs, errs)
	}
	recs, errs = ParseMessages(unicastDatagram(TypeSyscall, "garbage"))
	if len(recs) != 0 || errs != 1 {
		t.Errorf("garbage: %v %d", recs, errs)
	}
}

func TestParseRecord(t *testing.T) {
	r, err := ParseRecord(TypeSyscall, []byte(syscallText))
	if err != nil {
		t.Fatal(err)
	}
	if r.Serial != 7055 || !r.Time.Equal(time.Unix(1795736730, 705e6)) || r.ID() != "1795736730.705:7055" {
		t.Errorf("stamp: %d %v %s", r.Serial, r.Time, r.ID())
	}
	f := r.Fields()
	if len(f) != 25 || f[0] != (Field{"arch", "c000003e"}) || f[len(f)-1] != (Field{"key", "(null)"}) {
		t.Errorf("fields %d: %v ... %v", len(f), f[0], f[len(f)-1])
	}
	if v, _ := r.Get("comm"); v != `"true"` {
		t.Errorf("raw comm %q", v)
	}
	if r.Decoded("comm") != "true" || r.Decoded("exe") != "/usr/bin/true" || r.Decoded("key") != "" || r.Decoded("tty") != "" {
		t.Errorf("decoded: %q %q %q %q", r.Decoded("comm"), r.Decoded("exe"), r.Decoded("key"), r.Decoded("tty"))
	}
	if v, ok := r.Int("auid"); !ok || v != 4294967295 {
		t.Errorf("auid %d", v)
	}
	if v, ok := r.Hex("arch"); !ok || Arch(v) != ArchX86_64 {
		t.Errorf("arch %x", v)
	}
	if _, ok := r.Int("missing"); ok {
		t.Error("missing key found")
	}
	if _, ok := r.Hex("comm"); ok {
		t.Error("quoted value read as hex")
	}

	// Duplicate keys: the first wins (as osquery). Bare words are skipped.
	r, _ = ParseRecord(TypeAVC, []byte(`audit(1.5:9): avc:  denied  { read } for  pid=1 pid=2 comm="a b`))
	if v, _ := r.Get("pid"); v != "1" || len(r.Fields()) != 2 {
		t.Errorf("dups/bare: %v", r.Fields())
	}
	if r.Decoded("comm") != "a b" { // unterminated quote: kept to the end
		t.Errorf("unterminated %q", r.Decoded("comm"))
	}
	if r.Time.Nanosecond() != 5e6 {
		t.Errorf("msec 5 -> %v", r.Time)
	}

	// User-space records: msg='...' is kept and its pairs exposed, the
	// outer ones winning.
	user := `audit(1795736731.100:7100): pid=812 uid=0 auid=0 ses=3 subj=unconfined msg='op=PAM:session_open grantors=pam_unix acct="root" exe="/usr/bin/su" hostname=? addr=? terminal=pts/0 res=success pid=9'` + "\x00"
	r, err = ParseRecord(1105, []byte(user))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := r.Get("pid"); v != "812" {
		t.Errorf("outer pid %q", v)
	}
	if r.Decoded("exe") != "/usr/bin/su" || r.Decoded("acct") != "root" || r.Decoded("terminal") != "pts/0" || r.Decoded("res") != "success" {
		t.Errorf("user fields %v", r.Fields())
	}
	if !strings.HasPrefix(r.Decoded("msg"), "op=PAM:session_open") || strings.HasSuffix(r.Decoded("msg"), "'") {
		t.Errorf("msg %q", r.Decoded("msg"))
	}

	// An EOE has an empty body.
	r, err = ParseRecord(TypeEOE, []byte("audit(1795736730.705:7055): "))
	if err != nil || len(r.Fields()) != 0 || r.Serial != 7055 {
		t.Errorf("EOE: %v %v", r, err)
	}

	for _, bad := range []string{
		"", "audit(", "audit(1.2)", "audit(x.1:2): a=b", "audit(1.x:2): a=b", "audit(1.1:x): a=b",
		"audit(1.1000:2): a=b", "audit(-1.1:2): a=b", "type=SYSCALL msg=audit(1.1:2): a=b",
		"audit(" + strings.Repeat("1", 80) + ".1:2): a=b", "audit(.1:2):", "audit(1.:2):",
	} {
		if _, err := ParseRecord(1300, []byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParseRecordManyFields(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("audit(1.000:1): argc=5000")
	for i := 0; i < 5000; i++ {
		sb.WriteString(" a1=x b" + string(rune('a'+i%26)) + "=y")
	}
	r, err := ParseRecord(TypeExecve, []byte(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	// Only distinct keys are kept.
	if n := len(r.Fields()); n != 1+1+26 {
		t.Errorf("%d fields", n)
	}
	// The field cap holds.
	sb.Reset()
	sb.WriteString("audit(1.000:1):")
	for i := 0; i < maxRecordFields+100; i++ {
		sb.WriteString(" k" + strconv.Itoa(i) + "=v")
	}
	r, _ = ParseRecord(TypeExecve, []byte(sb.String()))
	if len(r.Fields()) != maxRecordFields {
		t.Errorf("cap: %d", len(r.Fields()))
	}
}

func TestDecodeString(t *testing.T) {
	for in, want := range map[string]string{
		`"/usr/bin/true"`:            "/usr/bin/true",
		`""`:                         "",
		`"`:                          "",
		`'abc'`:                      "abc",
		"(null)":                     "",
		"(none)":                     "",
		"":                           "",
		"2F62696E2F74727565006C6174": "/bin/true\x00lat",
		"68617320737061636520227175": `has space "qu`,
		"6a6b":                       "jk", // lower case too
		"FF00FE":                     "\xff\x00\xfe",
		"abc":                        "abc", // odd length: not hex
		"?":                          "?",
		"zz":                         "zz",
	} {
		if got := DecodeString(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add(uint16(1300), []byte(syscallText))
	f.Add(uint16(1309), []byte(`audit(1795736730.705:7055): argc=3 a0="/bin/true" a1=6C6174 a2_len=4 a2[0]="ab" a2[1]="cd"`))
	f.Add(uint16(1105), []byte(`audit(1.100:7): pid=1 msg='op=x acct="r" res=success'`))
	f.Add(uint16(1320), []byte("audit(1.0:1): "))
	f.Add(uint16(1300), []byte("audit(1.0:1): k='unterminated a=b"))
	f.Fuzz(func(t *testing.T, typ uint16, b []byte) {
		r, err := ParseRecord(typ, b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unwrapped error %v", err)
			}
			return
		}
		if len(r.Fields()) > maxRecordFields {
			t.Fatalf("%d fields", len(r.Fields()))
		}
		seen := map[string]bool{}
		for _, f := range r.Fields() {
			if f.Key == "" || seen[f.Key] {
				t.Fatalf("empty or repeated key %q", f.Key)
			}
			seen[f.Key] = true
			_ = DecodeString(f.Value)
		}
		_ = r.ID()
	})
}

func FuzzParseDatagram(f *testing.F) {
	f.Add(unicastDatagram(TypeSyscall, syscallText))
	f.Add(multicastDatagram(TypeExecve, `audit(1.0:1): argc=1 a0="x"`))
	f.Add(make([]byte, 36))
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, _ := ParseDatagram(b)
		total := 0
		for _, m := range msgs {
			total += len(m.Data)
		}
		if total > len(b) {
			t.Fatalf("messages hold %d bytes of a %d-byte datagram", total, len(b))
		}
		recs, _ := ParseMessages(b)
		if len(recs) > len(msgs) {
			t.Fatalf("%d records from %d messages", len(recs), len(msgs))
		}
	})
}
