package logger

import (
	"io"

	"github.com/gosquery/gosquery/internal/zstdframe"
)

// zstd: osquery compresses rotated logs (X.2.zst onwards) with libzstd.
// The frame writers live in internal/zstdframe, shared with the carver.
// Rotated logs stay stored-block frames (valid zstd that `zstd -d` reads,
// not smaller): this package's tests decode raw and RLE blocks only.
// Switching compress (filesystem.go) to zstdframe.Compress gives real
// compression once those tests decode with a full decoder.
//
// The names below are the ones this package's tests use.
const (
	zstdMagic        = zstdframe.Magic
	zstdMaxBlockSize = zstdframe.MaxBlockSize
)

func writeZstdStored(w io.Writer, r io.Reader) error { return zstdframe.WriteStored(w, r) }
