package procfs

import (
	"os"
	"syscall"
	"testing"
)

func TestParseMeminfoCaptured(t *testing.T) {
	b, err := os.ReadFile("testdata/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	m := ParseMeminfo(b)
	for key, want := range map[string]int64{
		"MemTotal":     24684096 * 1024,
		"SwapTotal":    0,
		"Active(anon)": 1544 * 1024,
	} {
		if got, ok := m.Get(key); !ok || got != want {
			t.Errorf("%s = %d, %v; want %d", key, got, ok, want)
		}
	}
	// Unitless fields are counts, not kB.
	if got, ok := m.Get("HugePages_Total"); !ok || got != 0 {
		t.Errorf("HugePages_Total = %d, %v", got, ok)
	}
	if got := m["Hugepagesize"]; got != 2048*1024 {
		t.Errorf("Hugepagesize = %d", got)
	}
}

func TestParseMeminfoHostile(t *testing.T) {
	in := "MemTotal:  100 kB\n" +
		"NoColon 5 kB\n" +
		"Empty:\n" +
		": 7 kB\n" +
		"Huge: 99999999999999999 kB\n" + // overflows once in bytes
		"Negative: -5 kB\n" +
		"Bad: 12x kB\n" +
		"Weird (name): 3 kB\n" +
		"\xff\xfe: 4\n" +
		"Truncated: 4"
	m := ParseMeminfo([]byte(in))
	want := Meminfo{"MemTotal": 102400, "Weird (name)": 3072, "\xff\xfe": 4, "Truncated": 4}
	if len(m) != len(want) {
		t.Errorf("got %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%q = %d, want %d", k, m[k], v)
		}
	}
}

func TestMeminfoLive(t *testing.T) {
	m, err := New("/proc").Meminfo()
	if err != nil {
		t.Fatal(err)
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	want := int64(si.Totalram) * int64(si.Unit)
	if got, _ := m.Get("MemTotal"); got != want {
		t.Errorf("MemTotal = %d bytes, sysinfo says %d", got, want)
	}
	if got, _ := m.Get("SwapTotal"); got != int64(si.Totalswap)*int64(si.Unit) {
		t.Errorf("SwapTotal = %d bytes, sysinfo says %d", got, int64(si.Totalswap)*int64(si.Unit))
	}
}

func FuzzParseMeminfo(f *testing.F) {
	if b, err := os.ReadFile("testdata/meminfo"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("A: 1 kB\nB:\n:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k, v := range ParseMeminfo(b) {
			if v < 0 || k == "" {
				t.Fatalf("bad entry %q=%d", k, v)
			}
		}
	})
}
