package nlbatch

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPair returns a Socket over one end of a datagram socket pair and the
// other end to write to; both are closed when the test ends.
func openPair(t *testing.T) (*Socket, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	s, err := Open(fds[0], "pair")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.File.Close() })
	return s, fds[1]
}

// A Socket over one end of a datagram socket pair: WaitReadable wakes for
// data, Recv takes every queued datagram in one call, Stop wakes a blocked
// waiter for good, and Release and Stop in any order are safe.
func TestSocketWaitRecvStop(t *testing.T) {
	s, peer := openPair(t)
	r := New(4, 64)

	woke := make(chan bool, 1)
	go func() { woke <- s.WaitReadable() }()
	select {
	case <-woke:
		t.Fatal("WaitReadable returned with nothing queued")
	case <-time.After(50 * time.Millisecond):
	}
	for _, m := range []string{"one", "two", "three"} {
		if _, err := unix.Write(peer, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if ok := <-woke; !ok {
		t.Fatal("WaitReadable reported a stop instead of data")
	}
	n, err := r.Recv(s.Conn)
	if err != nil || n != 3 {
		t.Fatalf("Recv: %d datagrams, %v", n, err)
	}
	if d, cut, _ := r.Datagram(2); string(d) != "three" || cut {
		t.Fatalf("datagram 2: %q cut=%v", d, cut)
	}
	if n, err := r.Recv(s.Conn); n != 0 || err != nil {
		t.Fatalf("Recv of an empty socket: %d, %v", n, err)
	}

	go func() { woke <- s.WaitReadable() }()
	time.Sleep(20 * time.Millisecond)
	s.Stop()
	select {
	case ok := <-woke:
		if ok {
			t.Fatal("WaitReadable reported data after Stop")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not wake the waiter")
	}
	if s.WaitReadable() {
		t.Fatal("WaitReadable after Stop reported data")
	}
	s.Release()
	s.Release()
	s.Stop()
	if s.WaitReadable() {
		t.Fatal("WaitReadable after Release reported data")
	}
}

// A datagram larger than the buffer is reported as cut, not silently
// shortened.
func TestRecvTruncated(t *testing.T) {
	s, peer := openPair(t)
	defer s.Release()
	unix.Write(peer, make([]byte, 100))
	r := New(2, 16)
	if n, err := r.Recv(s.Conn); n != 1 || err != nil {
		t.Fatalf("Recv: %d, %v", n, err)
	}
	if d, cut, _ := r.Datagram(0); len(d) != 16 || !cut {
		t.Fatalf("len %d cut=%v", len(d), cut)
	}
}
