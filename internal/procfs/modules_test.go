package procfs

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

func TestParseModulesSample(t *testing.T) {
	// This VM's kernel is built without modules; the sample is a Debian
	// host's /proc/modules, trimmed.
	b, err := os.ReadFile("testdata/modules")
	if err != nil {
		t.Fatal(err)
	}
	ms := ParseModules(b)
	if len(ms) != 11 {
		t.Fatalf("%d modules, want 11", len(ms))
	}
	want := Module{Name: "nf_nat", Size: 57344, Refcount: "2", UsedBy: "nft_chain_nat,xt_MASQUERADE", State: "Live", Address: "0xffffffffc0b4f000"}
	if ms[2] != want {
		t.Errorf("nf_nat = %+v, want %+v", ms[2], want)
	}
	if ms[0].UsedBy != "-" {
		t.Errorf("unused module used_by = %q, want -", ms[0].UsedBy)
	}
	if ms[6].Taints != "(OE)" || ms[6].UsedBy != "vboxnetadp,vboxnetflt" {
		t.Errorf("vboxdrv = %+v", ms[6])
	}
	if ms[10].State != "Unloading" {
		t.Errorf("zfs = %+v", ms[10])
	}
}

func TestParseModulesHostile(t *testing.T) {
	in := "short 1 2 - Live\n" +
		"badsize 12x 0 - Live 0x0\n" +
		"neg -5 0 - Live 0x0\n" +
		"huge 99999999999999999999 0 - Live 0x0\n" +
		"ok\xff 7 0 , Live 0x1\n" + // a lone comma is kept
		"spaced   8   1   a,   Live   0x2  \n" +
		"trunc 9 0 - Live 0x3"
	ms := ParseModules([]byte(in))
	var names []string
	for _, m := range ms {
		names = append(names, m.Name+"/"+m.UsedBy)
	}
	if got, want := strings.Join(names, " "), "ok\xff/, spaced/a trunc/-"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestModulesLive(t *testing.T) {
	ms, err := New("/proc").Modules()
	if errors.Is(err, fs.ErrNotExist) {
		// A kernel without loadable modules has no /proc/modules; /sys
		// then has no module directories with a refcnt either.
		if _, serr := os.Stat("/sys/module"); serr == nil {
			entries, _ := os.ReadDir("/sys/module")
			for _, e := range entries {
				if _, err := os.Stat("/sys/module/" + e.Name() + "/refcnt"); err == nil {
					t.Errorf("no /proc/modules, but /sys/module/%s is a loadable module", e.Name())
				}
			}
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		// Every loaded module has a /sys/module directory with its state.
		b, err := os.ReadFile("/sys/module/" + m.Name + "/initstate")
		if err != nil {
			t.Errorf("module %s: %v", m.Name, err)
			continue
		}
		if m.State == "Live" && strings.TrimSpace(string(b)) != "live" {
			t.Errorf("module %s: state %s, sysfs initstate %q", m.Name, m.State, b)
		}
		if m.Size <= 0 {
			t.Errorf("module %s: size %d", m.Name, m.Size)
		}
	}
}

func FuzzParseModules(f *testing.F) {
	if b, err := os.ReadFile("testdata/modules"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("a 1 0 , Live 0x0 (O)\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range ParseModules(b) {
			if m.Name == "" || m.Size < 0 {
				t.Fatalf("bad module %+v", m)
			}
		}
	})
}
