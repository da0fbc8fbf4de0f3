package system

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var platformInfoSpec = table.Spec{
	Name:        "platform_info",
	Description: "Information about EFI/UEFI/ROM and platform/boot.",
	Columns: []table.Column{
		table.Text("vendor"),
		table.Text("version").Collation("version"),
		table.Text("date"),
		table.Text("revision"),
		table.Text("extra"),
		table.Text("firmware_type"),
		table.Text("address"),
		table.Text("size"),
		table.Integer("volume_size"),
	},
}

type platformInfoRow struct {
	Vendor       string `col:"vendor"`
	Version      string `col:"version"`
	Date         string `col:"date"`
	Revision     string `col:"revision"`
	Extra        string `col:"extra"`
	FirmwareType string `col:"firmware_type"`
	Address      string `col:"address"`
	Size         string `col:"size"`
	VolumeSize   int64  `col:"volume_size"`
}

func init() { table.Register(platformInfoSpec, generatePlatformInfo) }

// platformInfoMaxDMI bounds the raw SMBIOS read. SMBIOS 2 tables are at
// most 64 KiB; SMBIOS 3 lifts the limit, but real tables stay far below
// this.
const platformInfoMaxDMI = 16 << 20

// generatePlatformInfo emits one row per SMBIOS BIOS Information (type 0)
// structure, as osquery's Linux genPlatformInfo does from the raw table
// the kernel exports at /sys/firmware/dmi/tables/DMI. That file is
// readable by root only; without it (osqueryi as a user) the row comes
// from the world-readable /sys/class/dmi/id/bios_* strings, where osquery
// falls back to /dev/mem and returns nothing. Address and size need the
// raw structure, so they are empty then. A host without SMBIOS (some VMs,
// most ARM boards) has no row, as in osquery. firmware_type is "uefi"
// when /sys/firmware/efi exists, else "bios" (osquery's getFirmwareKind).
func generatePlatformInfo(ctx context.Context, q *table.Query, emit func(platformInfoRow)) error {
	firmware := "bios"
	if st, err := os.Stat(q.Env.Sys("firmware", "efi")); err == nil && st.IsDir() {
		firmware = "uefi"
	}

	path := q.Env.Sys("firmware", "dmi", "tables", "DMI")
	data, err := platformInfoReadDMI(path)
	if err == nil {
		for _, r := range parsePlatformInfo(data) {
			r.FirmwareType = firmware
			emit(r)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		q.Env.Log.Debug("platform_info: raw SMBIOS unreadable, using /sys/class/dmi/id", "err", err)
	}

	found := false
	dmi := func(name string) string {
		b, err := procfs.ReadFile(q.Env.Sys("class", "dmi", "id", name), 4096)
		if err != nil {
			return ""
		}
		found = true
		return string(trimRightSpace(b))
	}
	r := platformInfoRow{
		Vendor:       dmi("bios_vendor"),
		Version:      dmi("bios_version"),
		Date:         dmi("bios_date"),
		FirmwareType: firmware,
	}
	if !found {
		return nil
	}
	// The kernel creates bios_release only when the structure has a
	// valid major.minor, in the same "%u.%u" form.
	r.Revision = dmi("bios_release")
	emit(r)
	return nil
}

// platformInfoReadDMI reads the whole raw table. procfs.ReadFile does not
// fit: sysfs binary attributes return at most a page per read, which its
// short-read shortcut would take for the end of the file.
func platformInfoReadDMI(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, platformInfoMaxDMI+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > platformInfoMaxDMI {
		return nil, fmt.Errorf("read %s: %w", path, procfs.ErrTooLarge)
	}
	return b, nil
}

// SMBIOS BIOS Information (type 0) offsets, DSP0134 7.1.
const (
	smbiosTypeBIOS       = 0
	smbiosTypeEndOfTable = 127

	biosVendor        = 0x04
	biosVersion       = 0x05
	biosSegment       = 0x06 // WORD
	biosDate          = 0x08
	biosROMSize       = 0x09
	biosMajor         = 0x14
	biosMinor         = 0x15
	biosExtROMSize    = 0x18 // WORD, SMBIOS 3.1
	biosMinLength     = 0x12 // SMBIOS 2.0
	biosLenRevision   = biosMinor + 1
	biosLenExtROMSize = biosExtROMSize + 2
)

// parsePlatformInfo walks a raw SMBIOS structure table and returns a row
// for each BIOS Information structure. It never reads outside data: a
// structure whose header or strings run past the end ends the walk, as do
// the end-of-table structure and a header shorter than four bytes.
func parsePlatformInfo(data []byte) []platformInfoRow {
	var rows []platformInfoRow
	smbiosWalk(data, func(typ byte, formatted, strs []byte) {
		if typ != smbiosTypeBIOS || len(formatted) < biosMinLength {
			return
		}
		r := platformInfoRow{
			Vendor:  smbiosString(strs, formatted[biosVendor]),
			Version: smbiosString(strs, formatted[biosVersion]),
			Date:    smbiosString(strs, formatted[biosDate]),
			// osquery prints the starting address segment itself
			// ("0xe800" for code at 0xE8000), not the address.
			Address: fmt.Sprintf("0x%04x", binary.LittleEndian.Uint16(formatted[biosSegment:])),
			Size:    strconv.FormatUint(biosROMBytes(formatted), 10),
		}
		// osquery reads these two bytes whatever the structure's
		// length, which on an SMBIOS 2.0-2.3 structure is string data;
		// they exist from 2.4 on, and 0xFF means the firmware does not
		// report a release (the kernel then has no bios_release).
		if len(formatted) >= biosLenRevision && formatted[biosMajor] != 0xff {
			r.Revision = strconv.Itoa(int(formatted[biosMajor])) + "." + strconv.Itoa(int(formatted[biosMinor]))
		}
		rows = append(rows, r)
	})
	return rows
}

// biosROMBytes is the BIOS ROM size: 64 KiB times (n+1) for the byte at
// 0x09, as osquery computes it, except that n = 0xFF means "16 MiB or
// more, see the extended size" since SMBIOS 3.1, where osquery reports
// 16 MiB; the extended size (MiB or GiB units) is used when present.
func biosROMBytes(f []byte) uint64 {
	n := uint64(f[biosROMSize])
	if n == 0xff && len(f) >= biosLenExtROMSize {
		ext := binary.LittleEndian.Uint16(f[biosExtROMSize:])
		v := uint64(ext & 0x3fff)
		switch ext >> 14 {
		case 0:
			return v << 20
		case 1:
			return v << 30
		}
	}
	return (n + 1) << 16
}

// smbiosWalk calls fn for each structure of a raw SMBIOS table with its
// formatted area (header included) and its string-set (the bytes after
// the formatted area up to and including the double NUL that ends it).
func smbiosWalk(data []byte, fn func(typ byte, formatted, strs []byte)) {
	for p := 0; p+4 <= len(data); {
		typ, length := data[p], int(data[p+1])
		if length < 4 || p+length > len(data) {
			return
		}
		formatted := data[p : p+length]
		rest := data[p+length:]
		end := bytes.Index(rest, []byte{0, 0})
		if end < 0 {
			return
		}
		fn(typ, formatted, rest[:end+2])
		if typ == smbiosTypeEndOfTable {
			return
		}
		p += length + end + 2
	}
}

// smbiosString returns string number idx (1-based; 0 means none) of a
// string-set, with trailing blanks removed as osquery's dmiString does.
func smbiosString(strs []byte, idx byte) string {
	if idx == 0 {
		return ""
	}
	for i := byte(1); len(strs) > 0; i++ {
		s, rest, ok := bytes.Cut(strs, []byte{0})
		if !ok || (len(s) == 0 && i > 1) {
			return "" // the set's terminator: idx is past the last string
		}
		if i == idx {
			return string(trimRightSpace(s))
		}
		strs = rest
	}
	return ""
}

// trimRightSpace drops what C's isspace calls blank from the end, as
// boost::trim_right does.
func trimRightSpace(b []byte) []byte {
	return bytes.TrimRight(b, " \t\n\v\f\r")
}
