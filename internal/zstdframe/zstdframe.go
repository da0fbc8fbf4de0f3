// Package zstdframe writes zstd frames (RFC 8878), the format osquery uses
// for rotated logs (X.2.zst) and compressed carves (.tar.zst). It owns two
// writers: Compress, real compression through github.com/klauspost/compress
// (a pure Go encoder, the counterpart of libzstd's default level), and
// WriteStored, frames of raw blocks that need no encoder at all.
package zstdframe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Frame constants every writer and reader here shares.
const (
	// Magic opens every zstd frame; on disk it reads 28 B5 2F FD.
	Magic = 0xFD2FB528
	// MaxBlockSize is the largest block a frame may hold (128 KiB).
	MaxBlockSize = 128 << 10
)

const (
	// Frame header descriptor 0: no content size, not single-segment, no
	// checksum, no dictionary; then a window descriptor for 2^17 bytes,
	// the smallest window that allows full-size blocks.
	storedFrameDescriptor  = 0x00
	storedWindowDescriptor = (17 - 10) << 3
	blockRaw               = 0
)

// WriteStored copies r to w as one zstd frame of raw (uncompressed)
// blocks: `zstd -d`, zstdcat and every zstd library read it, but it is not
// smaller than r. It is for readers of the frames that only know raw and
// RLE blocks (the logger's tests) and for when no encoder is wanted.
func WriteStored(w io.Writer, r io.Reader) error {
	buf := make([]byte, 3+MaxBlockSize)
	hdr := binary.LittleEndian.AppendUint32(nil, Magic)
	hdr = append(hdr, storedFrameDescriptor, storedWindowDescriptor)
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
		h := uint32(n)<<3 | blockRaw<<1
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

// Compress copies r to w as one compressed zstd frame with a content
// checksum, at the encoder's default level (libzstd's level 3, osquery's
// choice). It encodes on the calling goroutine only: the carver and the
// logger run under the watchdog's CPU limit, as osquery's single-threaded
// libzstd calls do.
func Compress(w io.Writer, r io.Reader) error {
	enc, err := zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(true),
		// An empty input still makes a frame, so the output is always
		// recognisable by its magic.
		zstd.WithZeroFrames(true),
	)
	if err != nil {
		return fmt.Errorf("zstd encoder: %w", err)
	}
	if _, err := enc.ReadFrom(r); err != nil {
		enc.Close()
		return fmt.Errorf("zstd compress: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("zstd compress: %w", err)
	}
	return nil
}
