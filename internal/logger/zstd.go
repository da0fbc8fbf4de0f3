package logger

import (
	"encoding/binary"
	"errors"
	"io"
)

// zstd: osquery compresses rotated logs (X.2.zst onwards) with libzstd.
// Go's standard library has no zstd encoder and the module proxy here does
// not serve github.com/klauspost/compress, so writeZstdStored writes a valid
// zstd frame (RFC 8878) made of raw, uncompressed blocks: the files keep
// osquery's names and `zstd -d`, zstdcat and every zstd library read them,
// but they are not smaller. Swapping in a real encoder later only changes
// this function.

const (
	zstdMagic        = 0xFD2FB528
	zstdMaxBlockSize = 128 << 10
	// Frame header descriptor 0: no content size, not single-segment, no
	// checksum, no dictionary; then a window descriptor for 2^17 bytes,
	// the smallest window that allows full-size blocks.
	zstdFrameDescriptor  = 0x00
	zstdWindowDescriptor = (17 - 10) << 3
	zstdBlockRaw         = 0
)

// writeZstdStored copies r to w as one zstd frame of raw blocks.
func writeZstdStored(w io.Writer, r io.Reader) error {
	buf := make([]byte, 3+zstdMaxBlockSize)
	hdr := binary.LittleEndian.AppendUint32(nil, zstdMagic)
	hdr = append(hdr, zstdFrameDescriptor, zstdWindowDescriptor)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for {
		n, err := io.ReadFull(r, buf[3:])
		last := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !last {
			return err
		}
		// Block header, little-endian: bit 0 last block, bits 1-2 type,
		// bits 3-23 size.
		h := uint32(n)<<3 | zstdBlockRaw<<1
		if last {
			h |= 1
		}
		buf[0], buf[1], buf[2] = byte(h), byte(h>>8), byte(h>>16)
		if _, err := w.Write(buf[:3+n]); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}
