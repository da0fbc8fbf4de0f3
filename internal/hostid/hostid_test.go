package hostid

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHardwareUUID(t *testing.T) {
	dir := t.TempDir()
	sys := filepath.Join(dir, "sys")
	os.MkdirAll(filepath.Join(sys, "class/dmi/id"), 0o755)
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	if _, ok := HardwareUUID(dir, sys); ok {
		t.Fatal("found a UUID in an empty root")
	}
	os.WriteFile(filepath.Join(dir, "etc/machine-id"), []byte("3d1219c7c4c5404aaa1f6d2a48adfda4\n"), 0o644)
	if u, ok := HardwareUUID(dir, sys); !ok || u != "3D1219C7-C4C5-404A-AA1F-6D2A48ADFDA4" {
		t.Fatalf("machine-id: %q %v", u, ok)
	}
	// A firmware placeholder is ignored in favour of machine-id.
	os.WriteFile(filepath.Join(sys, "class/dmi/id/product_uuid"), []byte("03000200-0400-0500-0006-000700080009\n"), 0o644)
	if u, _ := HardwareUUID(dir, sys); u != "3D1219C7-C4C5-404A-AA1F-6D2A48ADFDA4" {
		t.Fatalf("placeholder not ignored: %q", u)
	}
	os.WriteFile(filepath.Join(sys, "class/dmi/id/product_uuid"), []byte("ec2a1b2c-1234-5678-9abc-def012345678\n"), 0o644)
	if u, _ := HardwareUUID(dir, sys); u != "EC2A1B2C-1234-5678-9ABC-DEF012345678" {
		t.Fatalf("dmi: %q", u)
	}
	if r := Random(); !isUUID(r) || r == Random() {
		t.Fatalf("random %q", r)
	}
}
