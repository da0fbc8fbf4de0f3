package audit

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeKernel is the far end of a socket pair standing in for the kernel,
// so the request/ACK/reply logic is tested without privileges, including
// orders and errors the real kernel rarely produces.
type fakeKernel struct {
	t  *testing.T
	fd int
}

func newFakeClient(t *testing.T) (*Client, *fakeKernel) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	c, err := newConn(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	c.anySender = true
	k := &fakeKernel{t: t, fd: fds[1]}
	t.Cleanup(func() { unix.Close(k.fd) })
	cl := &Client{c: c, timeout: 2 * time.Second, buf: make([]byte, recvBufSize)}
	t.Cleanup(func() { cl.Close() })
	return cl, k
}

// request reads what the client sent.
func (k *fakeKernel) request() Message {
	k.t.Helper()
	tv := unix.NsecToTimeval(int64(2 * time.Second))
	unix.SetsockoptTimeval(k.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, 1<<16)
	n, err := unix.Read(k.fd, buf)
	if err != nil {
		k.t.Errorf("fake kernel read: %v", err)
		return Message{}
	}
	msgs, err := ParseDatagram(buf[:n])
	if err != nil || len(msgs) != 1 {
		k.t.Errorf("request: %v %v", msgs, err)
		return Message{}
	}
	return msgs[0]
}

func (k *fakeKernel) send(typ, flags uint16, seq uint32, payload []byte) {
	b := encodeRequest(typ, flags, seq, payload)
	if _, err := unix.Write(k.fd, b); err != nil {
		k.t.Errorf("fake kernel write: %v", err)
	}
}

func (k *fakeKernel) ack(req Message, code int32) {
	p := make([]byte, 4+16)
	binary.LittleEndian.PutUint32(p, uint32(code))
	copy(p[4:], encodeRequest(req.Type, req.Flags, req.Seq, nil)[:16])
	k.send(unix.NLMSG_ERROR, 0x100, req.Seq, p) // NLM_F_CAPPED
}

func (k *fakeKernel) record(typ uint16, text string) {
	if _, err := unix.Write(k.fd, unicastDatagram(typ, text)); err != nil {
		k.t.Errorf("fake kernel write: %v", err)
	}
}

func TestClientGetStatusAckThenReply(t *testing.T) {
	c, k := newFakeClient(t)
	want := Status{Enabled: 1, Failure: 1, PID: 77, BacklogLimit: 8192, FeatureBitmap: 0x7f, BacklogWaitTime: 15000}
	go func() {
		req := k.request()
		if req.Type != unix.AUDIT_GET || req.Flags != unix.NLM_F_REQUEST|unix.NLM_F_ACK || req.Seq == 0 || len(req.Data) != 0 {
			t.Errorf("request %+v", req)
		}
		k.record(TypeSyscall, syscallText)                    // a record: seq 0, skipped
		k.ack(Message{Type: req.Type, Seq: req.Seq - 1}, -17) // a late answer to an earlier request
		k.ack(req, 0)                                         // the ACK first, as the real kernel does
		k.send(unix.AUDIT_GET, 0, req.Seq, want.Marshal())
	}()
	got, err := c.GetStatus()
	if err != nil || got != want {
		t.Fatalf("%v %v", got, err)
	}
}

func TestClientGetStatusReplyThenAck(t *testing.T) {
	c, k := newFakeClient(t)
	want := Status{Enabled: 1, BacklogLimit: 64}
	go func() {
		req := k.request()
		k.send(unix.AUDIT_GET, 0, req.Seq, want.Marshal()[:40]) // an older kernel's shorter struct
		k.ack(req, 0)
	}()
	got, err := c.GetStatus()
	if err != nil || got != want {
		t.Fatalf("%v %v", got, err)
	}
	// Sequence numbers advance and skip 0.
	c.seq = ^uint32(0)
	go func() {
		req := k.request()
		if req.Seq != 1 {
			t.Errorf("seq after wrap %d", req.Seq)
		}
		k.ack(req, 0)
		k.send(unix.AUDIT_GET, 0, req.Seq, want.Marshal())
	}()
	if _, err := c.GetStatus(); err != nil {
		t.Fatal(err)
	}
}

func TestClientErrors(t *testing.T) {
	c, k := newFakeClient(t)
	go func() {
		req := k.request()
		if req.Type != unix.AUDIT_SET || len(req.Data) != StatusSize {
			t.Errorf("SET request %+v", req)
		}
		k.ack(req, -int32(unix.EEXIST))
	}()
	err := c.SetStatus(Status{Mask: StatusPID, PID: 5})
	if !errors.Is(err, unix.EEXIST) || err.Error() != "audit: set status: file exists" {
		t.Errorf("%v", err)
	}
	// A counter reset answers with the old value as a positive "error".
	go func() { k.ack(k.request(), 827) }()
	if v, err := c.SetStatusValue(Status{Mask: StatusLost}); err != nil || v != 827 {
		t.Errorf("lost reset: %d %v", v, err)
	}
	// An add carries the whole rule; the kernel's refusal names the operation.
	r := SyscallRule(ArchX86_64, []int{59, 322}, "k")
	go func() {
		req := k.request()
		want, _ := r.Marshal()
		if req.Type != unix.AUDIT_ADD_RULE || !bytes.Equal(req.Data, want) {
			t.Errorf("ADD request type %d, %d bytes", req.Type, len(req.Data))
		}
		k.ack(req, -int32(unix.EEXIST))
	}()
	if err := c.AddRule(r); err == nil || err.Error() != "audit: add rule: file exists" {
		t.Errorf("add: %v", err)
	}
	go func() { k.ack(k.request(), -int32(unix.ENOENT)) }()
	if err := c.DeleteRule(r); !errors.Is(err, unix.ENOENT) || !strings.HasPrefix(err.Error(), "audit: delete rule: ") {
		t.Errorf("delete: %v", err)
	}
	// A rule that cannot be encoded is never sent.
	if err := c.AddRule(SyscallRule(ArchX86_64, nil, strings.Repeat("k", 300))); err == nil || !strings.HasPrefix(err.Error(), "audit: add rule: ") {
		t.Errorf("long key: %v", err)
	}
	// Panic mode is refused before it is sent.
	if err := c.SetStatus(Status{Mask: StatusFailure, Failure: FailurePanic}); err == nil {
		t.Error("failure=2 sent")
	}
	// A short NLMSG_ERROR is a protocol error, not an ACK.
	go func() {
		req := k.request()
		k.send(unix.NLMSG_ERROR, 0, req.Seq, []byte{0, 0})
	}()
	if err := c.SetStatus(Status{Mask: StatusEnabled}); err == nil {
		t.Error("short NLMSG_ERROR accepted")
	}
}

func TestClientListRules(t *testing.T) {
	c, k := newFakeClient(t)
	r1 := SyscallRule(ArchX86_64, []int{59, 322}, "a")
	r2 := SyscallRule(ArchI386, []int{11, 358}, "b")
	go func() {
		req := k.request()
		k.ack(req, 0)
		for _, r := range []Rule{r1, r2} {
			b, _ := r.Marshal()
			k.send(unix.AUDIT_LIST_RULES, unix.NLM_F_MULTI, req.Seq, b)
		}
		k.send(unix.NLMSG_DONE, unix.NLM_F_MULTI, req.Seq, make([]byte, 4))
	}()
	rules, err := c.ListRules()
	if err != nil || len(rules) != 2 || !rules[0].Equal(r1) || !rules[1].Equal(r2) {
		t.Fatalf("%v %v", rules, err)
	}
	// A malformed rule fails the listing rather than being skipped.
	go func() {
		req := k.request()
		k.ack(req, 0)
		k.send(unix.AUDIT_LIST_RULES, unix.NLM_F_MULTI, req.Seq, make([]byte, 100))
	}()
	if _, err := c.ListRules(); err == nil || !strings.HasPrefix(err.Error(), "audit: list rules: ") {
		t.Errorf("malformed: %v", err)
	}
}

func TestClientNeverHangs(t *testing.T) {
	c, k := newFakeClient(t)
	c.SetTimeout(200 * time.Millisecond)
	go func() {
		req := k.request()
		k.ack(req, 0) // the ACK, but never the reply
	}()
	start := time.Now()
	_, err := c.GetStatus()
	if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.HasPrefix(err.Error(), "audit: get status: ") {
		t.Errorf("%v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	// Close wakes a request in flight and later calls fail at once.
	c.SetTimeout(time.Minute)
	done := make(chan error, 1)
	go func() { _, err := c.GetStatus(); done <- err }()
	k.request()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("in flight: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the request")
	}
	if err := c.SetStatus(Status{}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("after close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestEncodeRequest(t *testing.T) {
	b := encodeRequest(unix.AUDIT_SET, unix.NLM_F_REQUEST|unix.NLM_F_ACK, 9, []byte{1, 2, 3})
	want, _ := hex.DecodeString("13000000e9030500" + "09000000" + "00000000" + "01020300")
	if !bytes.Equal(b, want) {
		t.Errorf("%x", b)
	}
}

func TestKernelStatusRoundTrip(t *testing.T) {
	kernelTest(t)
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var exchange []string
	c.tap = func(out bool, b []byte) {
		dir := "<"
		if out {
			dir = ">"
		}
		exchange = append(exchange, dir+" "+hex.EncodeToString(b))
	}
	st, err := c.GetStatus()
	if err != nil {
		t.Fatal(err)
	}
	c.tap = nil
	if st.FeatureBitmap == 0 || st.Failure == FailurePanic {
		t.Errorf("implausible status %v", st)
	}
	// The exchange: our request, then the ACK before the reply (notes §1.2).
	if len(exchange) != 3 || !strings.HasPrefix(exchange[0], ">") {
		t.Fatalf("exchange %q", exchange)
	}
	if *update {
		content := "# AUDIT_GET exchange: > request, < ACK and reply, as received (" + time.Now().UTC().Format(time.DateOnly) + ")\n" + strings.Join(exchange, "\n") + "\n"
		if err := os.WriteFile("testdata/audit_get.hex", []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Only the masked field changes, whatever the others hold.
	req := Status{Mask: StatusBacklogLimit, BacklogLimit: st.BacklogLimit + 7, Enabled: 1, RateLimit: 99, PID: 1, BacklogWaitTime: 1}
	if err := c.SetStatus(req); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetStatus()
	if err != nil {
		t.Fatal(err)
	}
	want := st
	want.BacklogLimit += 7
	if got.Enabled != want.Enabled || got.PID != want.PID || got.RateLimit != want.RateLimit || got.BacklogLimit != want.BacklogLimit || got.BacklogWaitTime != want.BacklogWaitTime {
		t.Errorf("after set: %v, want %v", got, want)
	}
	if err := c.SetStatus(Status{Mask: StatusBacklogLimit, BacklogLimit: st.BacklogLimit}); err != nil {
		t.Fatal(err)
	}
	// A counter reset is acknowledged with the old value, not an error.
	if _, err := c.SetStatusValue(Status{Mask: StatusBacklogWaitTimeActual}); err != nil {
		t.Errorf("reset: %v", err)
	}
	// Never panic mode.
	if err := c.SetStatus(Status{Mask: StatusFailure, Failure: FailurePanic}); err == nil {
		t.Error("failure=2 accepted")
	}
	// Out of range: the kernel refuses, the error names the operation.
	err = c.SetStatus(Status{Mask: StatusBacklogWaitTime, BacklogWaitTime: 0xffffffff})
	if !errors.Is(err, unix.EINVAL) || err.Error() != "audit: set status: invalid argument" {
		t.Errorf("bad wait time: %v", err)
	}
}

func TestKernelRules(t *testing.T) {
	kernelTest(t)
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r64 := SyscallRule(ArchX86_64, syscallNumbers(ArchX86_64, ExecSyscalls), testKey)
	r32 := SyscallRule(ArchI386, syscallNumbers(ArchI386, ExecSyscalls), testKey)
	for _, r := range []Rule{r64, r32} {
		if err := c.AddRule(r); err != nil {
			t.Fatal(err)
		}
	}
	got := rulesWithKey(t, testKey)
	if len(got) != 2 || !got[0].Equal(r64) || !got[1].Equal(r32) {
		t.Fatalf("listed %v", got)
	}
	// What the kernel lists marshals to the bytes we sent.
	for i, r := range []Rule{r64, r32} {
		a, _ := r.Marshal()
		b, _ := got[i].Marshal()
		if !bytes.Equal(a, b) {
			t.Errorf("rule %d bytes differ after list", i)
		}
	}
	err = c.AddRule(r64)
	if !errors.Is(err, unix.EEXIST) || err.Error() != "audit: add rule: file exists" {
		t.Errorf("duplicate add: %v", err)
	}
	for _, r := range []Rule{r64, r32} {
		if err := c.DeleteRule(r); err != nil {
			t.Fatal(err)
		}
	}
	err = c.DeleteRule(r64)
	if !errors.Is(err, unix.ENOENT) || err.Error() != "audit: delete rule: no such file or directory" {
		t.Errorf("second delete: %v", err)
	}
	if n := len(rulesWithKey(t, testKey)); n != 0 {
		t.Errorf("%d rules left", n)
	}
	// A closed client fails fast instead of hanging.
	c.Close()
	if _, err := c.GetStatus(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("closed client: %v", err)
	}
}
