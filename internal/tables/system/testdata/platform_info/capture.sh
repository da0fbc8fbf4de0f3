#!/bin/sh
# capture.sh regenerates the raw SMBIOS structure tables in this directory.
#
# The machine the tests were written on has no SMBIOS at all (a Firecracker
# VM: no /sys/firmware/dmi, no /sys/class/dmi), so the bytes come from real
# firmware running under QEMU/KVM on it: SeaBIOS and OVMF build their SMBIOS
# tables at POST, and this script reads guest memory through the QEMU monitor,
# finds the entry point (_SM_ / _SM3_ anchor, checksum verified) and saves the
# structure table it points at. That is the same byte range the kernel
# exports as /sys/firmware/dmi/tables/DMI.
#
# Needs: qemu-system-x86 seabios ovmf python3 (Debian packages), /dev/kvm.
# Usage: sh capture.sh   (then go test ./internal/tables/system -run PlatformInfoGolden -update)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# capture NAME RAMBYTES ACCEL POSTSECONDS QEMU-ARGS...: boot until the
# firmware has published SMBIOS, dump the first RAMBYTES of guest memory and
# extract the table.
capture() {
	name=$1 ram=$2 accel=$3 post=$4
	shift 4
	qemu-system-x86_64 -accel "$accel" -m 128 -nodefaults -display none -serial none \
		-monitor "unix:$tmp/mon,server,nowait" -no-reboot "$@" &
	qpid=$!
	python3 - "$tmp/mon" "$tmp/mem.bin" "$ram" "$here/$name.bin" "$post" <<'PY'
import socket, struct, sys, time
mon, mem, ram, out, post = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
for _ in range(100):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(mon); break
    except OSError:
        time.sleep(0.1)
def cmd(c, wait=True):
    s.sendall(c.encode() + b"\n")
    buf = b""
    while wait and not buf.endswith(b"(qemu) "):
        b = s.recv(65536)
        if not b:
            sys.exit("QEMU monitor closed")
        buf += b
cmd("")
time.sleep(post)
cmd('pmemsave 0 %d "%s"' % (ram, mem))
cmd("quit", wait=False)
d = open(mem, "rb").read()
def ok(b):
    return sum(b) & 0xff == 0
found = None
for off in range(0, len(d) - 32, 16):
    if d[off:off+5] == b"_SM3_":
        n = d[off+6]
        if ok(d[off:off+n]):
            size, addr = struct.unpack_from("<IQ", d, off + 0x0c)
            found = (addr, size); break
    if d[off:off+4] == b"_SM_":
        n = d[off+5]
        if ok(d[off:off+n]) and d[off+16:off+21] == b"_DMI_" and ok(d[off+16:off+31]):
            size, addr = struct.unpack_from("<HI", d, off + 0x16)
            found = (addr, size); break
if not found:
    sys.exit("no SMBIOS entry point in guest memory")
addr, size = found
table = d[addr:addr+size]
# An SMBIOS 3 entry point gives a maximum size; the kernel exports up to
# the end-of-table structure (type 127), as dmi_walk does.
p = 0
while p + 4 <= len(table):
    t, l = table[p], table[p+1]
    q = p + l
    while q + 1 < len(table) and not (table[q] == 0 and table[q+1] == 0):
        q += 1
    q += 2
    p = q
    if t == 127:
        break
table = table[:p]
open(out, "wb").write(table)
print("%s: %d bytes at 0x%x" % (out, len(table), addr))
PY
	wait "$qpid" || true
}

# SeaBIOS on the i440fx machine, SMBIOS 2.8 entry point: SeaBIOS writes its
# own BIOS (type 0) structure.
capture seabios-pc $((1 << 20)) kvm 3 -machine pc
# SeaBIOS on q35 with an SMBIOS 3.0 entry point and a type 0 set from the
# command line, which QEMU itself encodes (BIOS revision 5.12, UEFI bit).
capture qemu-type0-q35 $((1 << 20)) kvm 3 -machine q35,smbios-entry-point-type=64 \
	-smbios 'type=0,vendor=Example Firmware Inc.  ,version=X1.23,date=07/15/2024,release=5.12,uefi=on'
# OVMF (UEFI), whose SmbiosPlatformDxe writes the type 0 structure. OVMF
# under KVM stops at an x87 instruction on this host's CPU model, so it runs
# emulated (TCG), which is slower to reach the boot manager.
capture ovmf-q35 $((128 << 20)) tcg 40 -machine q35 -bios /usr/share/ovmf/OVMF.fd
