package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The probe program must be a valid executable whatever the kernel: with
// IA32 emulation on it exits 42, with it off it dies of a signal. Either
// answer is a pass here; an exec error (a malformed ELF) or any other exit
// code is a bug in the probe.
func TestIA32ProbeProgramRuns(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("needs an x86-64 machine: this is %s", runtime.GOARCH)
	}
	bin := filepath.Join(t.TempDir(), "exit42")
	if err := os.WriteFile(bin, exit42ELF(), 0o755); err != nil {
		t.Fatal(err)
	}
	err := exec.Command(bin).Run()
	ee, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatalf("the probe program did not run as an executable: %v", err)
	}
	got := checkExit42(err)
	t.Logf("int $0x80 on this kernel: exit %d, probe says %v", ee.ExitCode(), got)
	if ee.ExitCode() != 42 && (got == nil || !strings.Contains(got.Error(), "IA32 emulation is off")) {
		t.Errorf("exit %d: probe answered %v", ee.ExitCode(), got)
	}
}

// A program that dies of SIGSEGV, as int $0x80 does with IA32 emulation
// off, must make the probe say so.
func TestIA32ProbeReportsFault(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("needs sh: %v", err)
	}
	err = exec.Command(sh, "-c", "kill -SEGV $$").Run()
	got := checkExit42(err)
	if got == nil || !strings.Contains(got.Error(), "segmentation fault") || !strings.Contains(got.Error(), "IA32 emulation is off") {
		t.Errorf("SIGSEGV: probe answered %v", got)
	}
	if got := checkExit42(exec.Command(sh, "-c", "exit 42").Run()); got != nil {
		t.Errorf("exit 42: probe answered %v", got)
	}
	if got := checkExit42(exec.Command(sh, "-c", "exit 3").Run()); got == nil {
		t.Error("exit 3 accepted")
	}
}

func TestNeedSkipsWithTheFeature(t *testing.T) {
	reached, skipped := false, false
	t.Run("missing", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Need(t, "a thing", os.ErrNotExist)
		reached = true
	})
	if reached || !skipped {
		t.Errorf("missing feature: reached %v, skipped %v", reached, skipped)
	}
	reached = false
	t.Run("present", func(t *testing.T) {
		Need(t, "a thing", nil)
		reached = true
	})
	if !reached {
		t.Error("present feature: the test did not run on")
	}
}
