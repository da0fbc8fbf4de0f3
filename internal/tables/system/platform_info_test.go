package system

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/tabletest"
)

// The package's tests share one -update flag; whichever file declares it
// first owns it (package variables initialise before any init runs).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite testdata golden files from the current output")
	}
}

func platformInfoUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// platformInfoEnv is an Env whose /sys holds files (path -> content, a
// trailing slash makes a directory).
func platformInfoEnv(t *testing.T, files map[string]string) *table.Env {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := tabletest.HostEnv(t)
	env.SysRoot = dir
	return env
}

// TestPlatformInfoGolden runs the table on raw SMBIOS tables captured from
// real firmware (SeaBIOS and OVMF under QEMU/KVM on the development
// machine, which itself has no SMBIOS; testdata/platform_info/capture.sh
// regenerates them). The expected values are what dmidecode 3.4 prints
// for the same bytes (`dmidecode --from-dump`, "BIOS Information"), so
// the golden files are checked against an independent parser, not only
// against themselves.
func TestPlatformInfoGolden(t *testing.T) {
	dmidecode := map[string]map[string]string{
		"seabios-pc": {
			"vendor": "SeaBIOS", "version": "1.16.2-debian-1.16.2-1", "date": "04/01/2014",
			"revision": "0.0", "address": "0xe800", "size": "65536", "firmware_type": "bios",
		},
		// QEMU's own type 0 from -smbios type=0,...: the vendor's
		// trailing blanks are trimmed as osquery does.
		"qemu-type0-q35": {
			"vendor": "Example Firmware Inc.", "version": "X1.23", "date": "07/15/2024",
			"revision": "5.12", "address": "0xe800", "size": "65536", "firmware_type": "bios",
		},
		"ovmf-q35": {
			"vendor": "EFI Development Kit II / OVMF", "version": "0.0.0", "date": "02/06/2015",
			"revision": "0.0", "address": "0xe800", "size": "65536", "firmware_type": "uefi",
		},
	}
	bins, err := filepath.Glob("testdata/platform_info/*.bin")
	if err != nil || len(bins) != len(dmidecode) {
		t.Fatalf("captures %v: %v", bins, err)
	}
	for _, bin := range bins {
		name := strings.TrimSuffix(filepath.Base(bin), ".bin")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			files := map[string]string{"firmware/dmi/tables/DMI": string(raw)}
			if strings.HasPrefix(name, "ovmf") {
				files["firmware/efi/"] = ""
			}
			rows := tabletest.Query(t, platformInfoEnv(t, files), "select * from platform_info")
			got, err := json.MarshalIndent(rows, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "platform_info", name+".golden")
			if platformInfoUpdate() {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s:\n%s", golden, got)
			}
			if len(rows) != 1 {
				t.Fatalf("%d rows", len(rows))
			}
			exp := dmidecode[name]
			exp["extra"], exp["volume_size"] = "", "0"
			for k, v := range exp {
				if rows[0][k] != v {
					t.Errorf("%s = %q, dmidecode says %q", k, rows[0][k], v)
				}
			}
		})
	}
}

// smbiosStruct builds one structure: type, formatted bytes after the
// 4-byte header, and its strings.
func smbiosStruct(typ byte, handle uint16, body []byte, strs ...string) []byte {
	b := []byte{typ, byte(4 + len(body)), byte(handle), byte(handle >> 8)}
	b = append(b, body...)
	for _, s := range strs {
		b = append(append(b, s...), 0)
	}
	if len(strs) == 0 {
		b = append(b, 0)
	}
	return append(b, 0)
}

// biosBody is a type 0 formatted area after the header, length-4 bytes
// long, with vendor/version/date as strings 1/2/3.
func biosBody(length int, romSize byte, major, minor byte, extROM uint16) []byte {
	b := make([]byte, length-4)
	b[biosVendor-4], b[biosVersion-4], b[biosDate-4] = 1, 2, 3
	b[biosSegment-4], b[biosSegment-4+1] = 0x00, 0xf0
	b[biosROMSize-4] = romSize
	if length > biosMinor {
		b[biosMajor-4], b[biosMinor-4] = major, minor
	}
	if length >= biosLenExtROMSize {
		b[biosExtROMSize-4], b[biosExtROMSize-4+1] = byte(extROM), byte(extROM>>8)
	}
	return b
}

func TestParsePlatformInfo(t *testing.T) {
	sys := smbiosStruct(1, 1, make([]byte, 0x17), "Maker", "Model")
	end := smbiosStruct(127, 0xfeff, nil)
	cases := []struct {
		name string
		data []byte
		want []platformInfoRow
	}{
		{
			name: "SMBIOS 3.2 with 32 MiB extended ROM size",
			data: concat(sys, smbiosStruct(0, 0, biosBody(0x1a, 0xff, 1, 23, 32), "Vendor ", "1.2.3\t", "01/02/2023"), end),
			want: []platformInfoRow{{Vendor: "Vendor", Version: "1.2.3", Date: "01/02/2023", Revision: "1.23", Address: "0xf000", Size: "33554432"}},
		},
		{
			name: "extended ROM size in GiB",
			data: smbiosStruct(0, 0, biosBody(0x1a, 0xff, 2, 0, 1<<14|2), "V", "X", "D"),
			want: []platformInfoRow{{Vendor: "V", Version: "X", Date: "D", Revision: "2.0", Address: "0xf000", Size: "2147483648"}},
		},
		{
			// Before 3.1 0xFF is just 16 MiB, osquery's reading.
			name: "0xFF ROM size without the extended field",
			data: smbiosStruct(0, 0, biosBody(0x18, 0xff, 2, 7, 0), "V", "X", "D"),
			want: []platformInfoRow{{Vendor: "V", Version: "X", Date: "D", Revision: "2.7", Address: "0xf000", Size: "16777216"}},
		},
		{
			// SMBIOS 2.0-2.3: no release bytes; osquery would read
			// string data there.
			name: "SMBIOS 2.0 structure",
			data: smbiosStruct(0, 0, biosBody(0x12, 7, 0, 0, 0), "Award Software International, Inc.", "ASUS A7V ACPI BIOS Revision 1011", "02/27/2001"),
			want: []platformInfoRow{{Vendor: "Award Software International, Inc.", Version: "ASUS A7V ACPI BIOS Revision 1011", Date: "02/27/2001", Address: "0xf000", Size: "524288"}},
		},
		{
			name: "release not reported (0xFF)",
			data: smbiosStruct(0, 0, biosBody(0x18, 0, 0xff, 0xff, 0), "V", "X", "D"),
			want: []platformInfoRow{{Vendor: "V", Version: "X", Date: "D", Address: "0xf000", Size: "65536"}},
		},
		{
			name: "missing and out of range string numbers",
			data: smbiosStruct(0, 0, func() []byte { b := biosBody(0x18, 0, 1, 0, 0); b[biosVendor-4], b[biosDate-4] = 0, 9; return b }(), "only"),
			want: []platformInfoRow{{Version: "", Revision: "1.0", Address: "0xf000", Size: "65536"}},
		},
		{
			// UEFI firmware usually reports segment 0; osquery pads to
			// four digits.
			name: "zero segment",
			data: smbiosStruct(0, 0, func() []byte { b := biosBody(0x18, 0, 1, 0, 0); b[biosSegment-4], b[biosSegment-4+1] = 0, 0; return b }(), "V"),
			want: []platformInfoRow{{Vendor: "V", Revision: "1.0", Address: "0x0000", Size: "65536"}},
		},
		{
			name: "no strings at all",
			data: smbiosStruct(0, 0, biosBody(0x18, 0, 1, 0, 0)),
			want: []platformInfoRow{{Revision: "1.0", Address: "0xf000", Size: "65536"}},
		},
		{
			name: "two BIOS structures, both reported as osquery does",
			data: concat(smbiosStruct(0, 0, biosBody(0x18, 0, 1, 0, 0), "A", "1", "d1"), smbiosStruct(0, 1, biosBody(0x18, 1, 2, 0, 0), "B", "2", "d2")),
			want: []platformInfoRow{
				{Vendor: "A", Version: "1", Date: "d1", Revision: "1.0", Address: "0xf000", Size: "65536"},
				{Vendor: "B", Version: "2", Date: "d2", Revision: "2.0", Address: "0xf000", Size: "131072"},
			},
		},
		{
			name: "nothing after the end-of-table structure is read",
			data: concat(end, smbiosStruct(0, 0, biosBody(0x18, 0, 1, 0, 0), "V", "X", "D")),
		},
		{
			name: "too short for a BIOS structure",
			data: smbiosStruct(0, 0, make([]byte, 0x11-4), "V"),
		},
		{
			name: "formatted area runs past the end",
			data: smbiosStruct(0, 0, biosBody(0x18, 0, 1, 0, 0), "V")[:0x10],
		},
		{
			name: "strings never terminated",
			data: bytes.TrimRight(smbiosStruct(0, 0, biosBody(0x18, 0, 1, 0, 0), "V", "X", "D"), "\x00"),
		},
		{
			name: "header length below 4 stops the walk",
			data: concat([]byte{1, 2, 0, 0, 0, 0}, smbiosStruct(0, 0, biosBody(0x18, 0, 1, 0, 0), "V")),
		},
		{name: "empty", data: nil},
		{name: "zero padding", data: make([]byte, 64)},
	}
	for _, tc := range cases {
		got := parsePlatformInfo(tc.data)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d rows %+v, want %d", tc.name, len(got), got, len(tc.want))
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: row %d\n got  %+v\n want %+v", tc.name, i, got[i], tc.want[i])
			}
		}
	}
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestSMBIOSString(t *testing.T) {
	strs := []byte("first\x00 second  \x00third\x00\x00")
	for idx, want := range map[byte]string{0: "", 1: "first", 2: " second", 3: "third", 4: "", 255: ""} {
		if got := smbiosString(strs, idx); got != want {
			t.Errorf("string %d = %q, want %q", idx, got, want)
		}
	}
	if got := smbiosString([]byte("\x00\x00"), 1); got != "" {
		t.Errorf("empty set: %q", got)
	}
	if got := smbiosString([]byte("unterminated"), 1); got != "" {
		t.Errorf("unterminated: %q", got)
	}
}

// TestPlatformInfoFixture covers the sources around the parser: the
// /sys/class/dmi/id fallback when the raw table cannot be read, and no
// row at all without SMBIOS.
func TestPlatformInfoFixture(t *testing.T) {
	dmiID := map[string]string{
		"class/dmi/id/bios_vendor":  "American Megatrends International, LLC.\n",
		"class/dmi/id/bios_version": "F.30  \n",
		"class/dmi/id/bios_date":    "08/09/2023\n",
		"class/dmi/id/bios_release": "5.27\n",
		"firmware/efi/":             "",
	}
	check := func(name string, files map[string]string, want []map[string]string) {
		t.Helper()
		rows := tabletest.Query(t, platformInfoEnv(t, files), "select * from platform_info")
		if len(rows) != len(want) {
			t.Fatalf("%s: %d rows %v, want %d", name, len(rows), rows, len(want))
		}
		for i := range want {
			for k, v := range want[i] {
				if rows[i][k] != v {
					t.Errorf("%s: %s = %q, want %q", name, k, rows[i][k], v)
				}
			}
		}
	}
	fallback := map[string]string{
		"vendor": "American Megatrends International, LLC.", "version": "F.30", "date": "08/09/2023",
		"revision": "5.27", "extra": "", "firmware_type": "uefi", "address": "", "size": "", "volume_size": "0",
	}
	check("dmi/id only", dmiID, []map[string]string{fallback})

	// The raw table wins when it can be read.
	withRaw := map[string]string{"firmware/dmi/tables/DMI": string(smbiosStruct(0, 0, biosBody(0x18, 0x0f, 5, 27, 0), "AMI", "F.30", "08/09/2023"))}
	for k, v := range dmiID {
		withRaw[k] = v
	}
	check("raw table", withRaw, []map[string]string{{"vendor": "AMI", "revision": "5.27", "address": "0xf000", "size": "1048576", "firmware_type": "uefi"}})

	// Unreadable raw table (a directory stands in for EACCES, which root
	// does not get): the fallback.
	unreadable := map[string]string{"firmware/dmi/tables/DMI/": ""}
	for k, v := range dmiID {
		unreadable[k] = v
	}
	check("raw table unreadable", unreadable, []map[string]string{fallback})

	// Firmware without a release: no bios_release file, empty revision;
	// no efi directory: bios.
	check("no release", map[string]string{"class/dmi/id/bios_vendor": "SeaBIOS\n"}, []map[string]string{{"vendor": "SeaBIOS", "version": "", "revision": "", "firmware_type": "bios"}})

	// A readable table without a BIOS structure, and no SMBIOS at all.
	check("no type 0", map[string]string{"firmware/dmi/tables/DMI": string(smbiosStruct(1, 0, make([]byte, 4), "x"))}, nil)
	check("no SMBIOS", map[string]string{"firmware/efi/": "", "class/": ""}, nil)
}

// TestPlatformInfoLive compares the table with what this machine's sysfs
// says. The machine the test was written on has no SMBIOS, so there it
// checks the empty answer; CI VMs with firmware tables check the row.
func TestPlatformInfoLive(t *testing.T) {
	rows := tabletest.Query(t, tabletest.HostEnv(t), "select * from platform_info")
	firmware := "bios"
	if st, err := os.Stat("/sys/firmware/efi"); err == nil && st.IsDir() {
		firmware = "uefi"
	}
	_, rawErr := os.ReadFile("/sys/firmware/dmi/tables/DMI")
	vendor, idErr := os.ReadFile("/sys/class/dmi/id/bios_vendor")
	if rawErr != nil && idErr != nil {
		if len(rows) != 0 {
			t.Fatalf("no SMBIOS on this host, yet rows %v", rows)
		}
		t.Log("no SMBIOS on this host: no rows, as osquery")
		return
	}
	if len(rows) == 0 {
		t.Fatal("SMBIOS present but no row")
	}
	r := rows[0]
	if r["firmware_type"] != firmware {
		t.Errorf("firmware_type %q, want %q", r["firmware_type"], firmware)
	}
	if idErr == nil && r["vendor"] != strings.TrimRight(string(vendor), " \t\n") {
		t.Errorf("vendor %q, sysfs bios_vendor %q", r["vendor"], vendor)
	}
	if rel, err := os.ReadFile("/sys/class/dmi/id/bios_release"); err == nil && r["revision"] != strings.TrimSpace(string(rel)) {
		t.Errorf("revision %q, sysfs bios_release %q", r["revision"], rel)
	}
	if rawErr == nil && (!strings.HasPrefix(r["address"], "0x") || r["size"] == "") {
		t.Errorf("raw table readable but address %q size %q", r["address"], r["size"])
	}
}

// FuzzParsePlatformInfo feeds arbitrary tables (the file is the kernel's
// copy of firmware data, which is not always well formed) to the parser:
// it must not panic, and what it returns must stay within the input.
func FuzzParsePlatformInfo(f *testing.F) {
	if bins, _ := filepath.Glob("testdata/platform_info/*.bin"); len(bins) > 0 {
		for _, b := range bins {
			if raw, err := os.ReadFile(b); err == nil {
				f.Add(raw)
			}
		}
	}
	f.Add(smbiosStruct(0, 0, biosBody(0x1a, 0xff, 1, 2, 0xffff), "a", "b", "c"))
	f.Add(smbiosStruct(0, 0, biosBody(0x12, 0, 0, 0, 0)))
	f.Add([]byte{0, 4, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		rows := parsePlatformInfo(data)
		if len(rows) > len(data)/(biosMinLength+2) {
			t.Fatalf("%d rows from %d bytes", len(rows), len(data))
		}
		for _, r := range rows {
			for _, s := range []string{r.Vendor, r.Version, r.Date} {
				if strings.IndexByte(s, 0) >= 0 || len(s) > len(data) || !bytes.Contains(data, []byte(s)) {
					t.Fatalf("string %q not a string of the input", s)
				}
			}
			if !strings.HasPrefix(r.Address, "0x") || len(r.Address) != 6 || r.Size == "" {
				t.Fatalf("%+v", r)
			}
		}
	})
}
