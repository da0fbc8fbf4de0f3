package procfs

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestParseCPUInfoCaptured(t *testing.T) {
	b, err := os.ReadFile("testdata/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	blocks := ParseCPUInfo(b)
	if len(blocks) != 2 {
		t.Fatalf("%d blocks, want 2", len(blocks))
	}
	if got := blocks[0]["model name"]; got != "AMD EPYC" {
		t.Errorf("model name = %q", got)
	}
	if got := blocks[0]["microcode"]; got != "0x1000065" {
		t.Errorf("microcode = %q", got)
	}
	if got := blocks[1]["core id"]; got != "1" {
		t.Errorf("core id of cpu1 = %q", got)
	}
	// "power management:" has an empty value.
	if v, ok := blocks[0]["power management"]; !ok || v != "" {
		t.Errorf("power management = %q, %v", v, ok)
	}
	if got := Topology(blocks); got != (CPUTopology{Logical: 2, Physical: 2, Sockets: 1}) {
		t.Errorf("topology = %+v", got)
	}
}

func TestCPUTopology(t *testing.T) {
	// Two sockets, two cores each, hyperthreaded.
	var b strings.Builder
	n := 0
	for pkg := 0; pkg < 2; pkg++ {
		for ht := 0; ht < 2; ht++ {
			for core := 0; core < 2; core++ {
				b.WriteString("processor\t: " + strconv.Itoa(n) + "\nphysical id\t: " + strconv.Itoa(pkg) + "\ncore id\t\t: " + strconv.Itoa(core) + "\n\n")
				n++
			}
		}
	}
	if got := Topology(ParseCPUInfo([]byte(b.String()))); got != (CPUTopology{Logical: 8, Physical: 4, Sockets: 2}) {
		t.Errorf("topology = %+v", got)
	}
	// ARM: no ids, and a trailing hardware block that is not a processor.
	arm := "processor\t: 0\nBogoMIPS\t: 108.00\n\nprocessor\t: 1\nBogoMIPS\t: 108.00\n\nHardware\t: BCM2835\nSerial\t\t: 1000000012345678\n"
	blocks := ParseCPUInfo([]byte(arm))
	if len(blocks) != 3 || blocks[2]["Hardware"] != "BCM2835" {
		t.Errorf("blocks = %v", blocks)
	}
	if got := Topology(blocks); got != (CPUTopology{Logical: 2, Physical: 2, Sockets: 0}) {
		t.Errorf("arm topology = %+v", got)
	}
}

func TestParseCPUInfoHostile(t *testing.T) {
	in := "processor : 0\nno colon here\n: empty key\nmodel name : a : b\nmodel name : dup\n\xff\xfe : \x00\n\n\n\nprocessor : x\nphysical id : 99999999999999999999999\ncore id : -1\nprocessor"
	blocks := ParseCPUInfo([]byte(in))
	if len(blocks) != 2 {
		t.Fatalf("%d blocks: %v", len(blocks), blocks)
	}
	if got := blocks[0]["model name"]; got != "a : b" {
		t.Errorf("model name = %q (first value, colons kept)", got)
	}
	if got := Topology(blocks); got != (CPUTopology{Logical: 2, Physical: 2, Sockets: 0}) {
		t.Errorf("topology = %+v", got)
	}
}

func TestCPUInfoLive(t *testing.T) {
	blocks, err := New("/proc").CPUInfo()
	if err != nil {
		t.Fatal(err)
	}
	online, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		t.Skip(err)
	}
	if got, want := Topology(blocks).Logical, countCPUList(t, string(online)); got != want {
		t.Errorf("logical CPUs = %d, /sys/devices/system/cpu/online lists %d", got, want)
	}
}

// countCPUList counts a cpulist such as "0-3,8,10-11".
func countCPUList(t *testing.T, s string) int {
	n := 0
	for _, r := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		if !isRange {
			hi = lo
		}
		a, err := strconv.Atoi(lo)
		if err != nil {
			t.Fatal(err)
		}
		b, err := strconv.Atoi(hi)
		if err != nil {
			t.Fatal(err)
		}
		n += b - a + 1
	}
	return n
}

func FuzzParseCPUInfo(f *testing.F) {
	if b, err := os.ReadFile("testdata/cpuinfo"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("processor: 0\ncore id: 1\nphysical id: 2\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		blocks := ParseCPUInfo(b)
		top := Topology(blocks)
		if top.Logical > len(blocks) || top.Sockets > top.Logical || top.Physical < 0 {
			t.Fatalf("topology %+v from %d blocks", top, len(blocks))
		}
	})
}
