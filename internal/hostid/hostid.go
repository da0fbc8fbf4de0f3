// Package hostid finds the host's identity as osquery does: the hardware
// UUID from DMI when the firmware provides a usable one, else the machine-id
// shaped as a UUID, else a random UUID the caller persists.
package hostid

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// isUUID checks the 8-4-4-4-12 hex shape without a regexp, which would
// cost every shell start its compilation.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// placeholder UUIDs firmware ships when it has none; osquery treats them as
// absent.
var placeholders = map[string]bool{
	"00000000-0000-0000-0000-000000000000": true,
	"03000200-0400-0500-0006-000700080009": true,
	"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF": true,
}

// HardwareUUID returns the DMI product UUID under sysRoot, or the
// machine-id (under root) formatted as a UUID, upper-cased as DMI reports
// it. ok is false when neither is usable.
func HardwareUUID(root, sysRoot string) (string, bool) {
	if b, err := os.ReadFile(filepath.Join(sysRoot, "class/dmi/id/product_uuid")); err == nil {
		u := strings.ToUpper(strings.TrimSpace(string(b)))
		if isUUID(u) && !placeholders[u] {
			return u, true
		}
	}
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			continue
		}
		id := strings.TrimSpace(string(b))
		if len(id) == 32 && strings.Trim(strings.ToLower(id), "0123456789abcdef") == "" {
			id = strings.ToUpper(id)
			return fmt.Sprintf("%s-%s-%s-%s-%s", id[0:8], id[8:12], id[12:16], id[16:20], id[20:32]), true
		}
	}
	return "", false
}

// Random returns a new random (version 4) UUID.
func Random() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
