// Package testenv owns the probes that tests run before they use a kernel
// or machine feature: machines of the same kind differ (kernels 6.1 to
// 6.18, 32-bit syscalls switched off at run time, no IPv6, one CPU, no
// terminal), and a test that needs what a machine lacks must say so and
// skip, never fail or pass by accident.
//
// Every skip names the feature first ("needs <feature>: <why>"), so the
// summary at the end of `make test` groups skips by what was missing.
// Probes run once per test binary and keep their answer.
//
// The package imports nothing of gosquery's own, so any package's internal
// tests can use it. A probe for a feature that a package implements (audit,
// the proc connector) lives in that package and is passed to Need.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Need skips the test when err, the answer of the probe for feature, is
// not nil.
func Need(t testing.TB, feature string, err error) {
	t.Helper()
	if err != nil {
		t.Skipf("needs %s: %v", feature, err)
	}
}

// Root skips unless the test runs as root; why says what root is for.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root: %s", why)
	}
}

// Command returns the path of a program the test runs, or skips naming
// the Debian package that has it.
func Command(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("needs %s: not installed (Debian package %s)", name, debianPackage)
	}
	return p
}

// CPUs skips unless the test may run on at least n CPUs.
func CPUs(t testing.TB, n int) {
	t.Helper()
	if got := runtime.NumCPU(); got < n {
		t.Skipf("needs %d CPUs: this process may use %d", n, got)
	}
}

// memo runs a probe once.
type memo struct {
	once sync.Once
	err  error
}

func (m *memo) get(probe func() error) error {
	m.once.Do(func() { m.err = probe() })
	return m.err
}

var ipv6, ia32, userns, pty memo

// IPv6 skips unless a TCP socket can listen on the IPv6 loopback.
func IPv6(t testing.TB) { t.Helper(); Need(t, "IPv6 loopback", ipv6.get(probeIPv6)) }

func probeIPv6() error {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return err
	}
	return ln.Close()
}

// PTY skips unless a pseudo-terminal can be opened.
func PTY(t testing.TB) { t.Helper(); Need(t, "a pseudo-terminal (/dev/ptmx)", pty.get(probePTY)) }

func probePTY() error {
	f, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// UserNamespaces skips unless this process can create a user namespace.
func UserNamespaces(t testing.TB) {
	t.Helper()
	Need(t, "user namespaces", userns.get(probeUserNS))
}

func probeUserNS() error {
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("clone(CLONE_NEWUSER): %w", err)
	}
	return nil
}

// IA32 skips unless 32-bit syscalls work: a 64-bit program that calls
// exit(42) through int $0x80 must exit with 42. Some kernels build
// CONFIG_IA32_EMULATION but switch it off at boot (ia32_emulation=0),
// and then int $0x80 raises a general protection fault (SIGSEGV).
func IA32(t testing.TB) { t.Helper(); Need(t, "32-bit syscalls (int $0x80)", ia32.get(probeIA32)) }

func probeIA32() error {
	if runtime.GOARCH != "amd64" {
		return fmt.Errorf("not an x86-64 machine (%s)", runtime.GOARCH)
	}
	dir, err := os.MkdirTemp("", "gosquery-ia32-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "exit42")
	if err := os.WriteFile(bin, exit42ELF(), 0o755); err != nil {
		return err
	}
	return checkExit42(exec.Command(bin).Run())
}

// checkExit42 interprets how the int $0x80 probe ended.
func checkExit42(err error) error {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return errors.New("the int $0x80 exit(42) program exited 0")
	case !errors.As(err, &ee):
		return fmt.Errorf("running the int $0x80 probe: %w", err)
	case ee.ExitCode() == 42:
		return nil
	default:
		ws, _ := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return fmt.Errorf("int $0x80 raised %v: IA32 emulation is off (ia32_emulation=0 or no CONFIG_IA32_EMULATION)", ws.Signal())
		}
		return fmt.Errorf("the int $0x80 exit(42) program exited %d", ee.ExitCode())
	}
}

// exit42ELF is a static x86-64 ELF executable of one page-aligned load
// segment whose code is
//
//	mov $1, %eax    # __NR_exit on the i386 ABI
//	mov $42, %ebx
//	int $0x80
//	mov $60, %eax   # not reached: __NR_exit on x86-64, status 1
//	mov $1, %edi
//	syscall
//
// Built by hand rather than with gcc so the probe needs no compiler.
func exit42ELF() []byte {
	const base = 0x400000
	const hdr = 64 + 56 // ELF header and one program header
	code := []byte{
		0xb8, 0x01, 0x00, 0x00, 0x00, // mov $1, %eax
		0xbb, 0x2a, 0x00, 0x00, 0x00, // mov $42, %ebx
		0xcd, 0x80, // int $0x80
		0xb8, 0x3c, 0x00, 0x00, 0x00, // mov $60, %eax
		0xbf, 0x01, 0x00, 0x00, 0x00, // mov $1, %edi
		0x0f, 0x05, // syscall
	}
	b := make([]byte, hdr, hdr+len(code))
	le := func(off int, v uint64, size int) {
		for i := range size {
			b[off+i] = byte(v >> (8 * i))
		}
	}
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1 // 64-bit, little-endian, version 1
	le(16, 2, 2)               // e_type ET_EXEC
	le(18, 62, 2)              // e_machine EM_X86_64
	le(20, 1, 4)               // e_version
	le(24, base+hdr, 8)        // e_entry
	le(32, 64, 8)              // e_phoff
	le(52, 64, 2)              // e_ehsize
	le(54, 56, 2)              // e_phentsize
	le(56, 1, 2)               // e_phnum
	p := 64
	le(p, 1, 4)                        // p_type PT_LOAD
	le(p+4, 5, 4)                      // p_flags R+X
	le(p+16, base, 8)                  // p_vaddr
	le(p+24, base, 8)                  // p_paddr
	le(p+32, uint64(hdr+len(code)), 8) // p_filesz
	le(p+40, uint64(hdr+len(code)), 8) // p_memsz
	le(p+48, 0x1000, 8)                // p_align
	return append(b, code...)
}

// Eventually polls cond every step until it holds or d passes, and reports
// whether it held. Tests on a loaded machine wait for a state instead of
// sleeping for a fixed time.
func Eventually(d, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(step)
	}
}
