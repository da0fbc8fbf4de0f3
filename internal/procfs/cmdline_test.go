package procfs

import (
	"os"
	"strings"
	"testing"
)

func TestSplitKernelCmdline(t *testing.T) {
	b, err := os.ReadFile("testdata/kernel_cmdline_grub")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(SplitKernelCmdline(b), "|")
	want := "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64|root=UUID=6f1c3a2e-8d1b-4c55-9f0e-2b8a7f1d9c40|ro|quiet|splash"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	b, err = os.ReadFile("testdata/kernel_cmdline")
	if err != nil {
		t.Fatal(err)
	}
	args := SplitKernelCmdline(b)
	if len(args) != 32 || args[0] != "mitigations=auto,no_guest_host,no_guest_guest" || args[len(args)-1] != "--auth-required" {
		t.Errorf("captured cmdline split into %d: %q", len(args), args)
	}
	for _, in := range []string{"", "\n", "   ", "\x00"} {
		if got := SplitKernelCmdline([]byte(in)); len(got) > 1 || (len(got) == 1 && got[0] != "\x00") {
			t.Errorf("%q -> %q", in, got)
		}
	}
	if got := SplitKernelCmdline([]byte(`a="b c"` + "\td")); len(got) != 2 || got[1] != "c\"\td" {
		t.Errorf("quotes/tabs: %q", got)
	}
}

func TestKernelCmdlineLive(t *testing.T) {
	args, err := New("/proc").KernelCmdline()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(args, " "), strings.Join(strings.Fields(string(raw)), " "); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func FuzzSplitKernelCmdline(f *testing.F) {
	f.Add([]byte("BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, a := range SplitKernelCmdline(b) {
			if a == "" || strings.Contains(a, " ") {
				t.Fatalf("bad argument %q", a)
			}
		}
	})
}
