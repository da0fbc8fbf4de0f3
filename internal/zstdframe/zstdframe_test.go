package zstdframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// sizes cross the block boundary of the stored writer.
var sizes = []int{0, 1, MaxBlockSize - 1, MaxBlockSize, MaxBlockSize + 1, 3*MaxBlockSize + 17}

// input is half text (compressible), half random (not).
func input(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		if i < n/2 {
			b[i] = "carve the file "[i%15]
		} else {
			b[i] = byte(r.Uint32())
		}
	}
	return b
}

// decode reads b with klauspost's decoder, an implementation independent
// of WriteStored.
func decode(t *testing.T, b []byte) []byte {
	t.Helper()
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := d.DecodeAll(b, nil)
	if err != nil {
		t.Fatalf("decode %d bytes: %v", len(b), err)
	}
	return out
}

// zstdTool decompresses b with the zstd command when it is installed.
func zstdTool(t *testing.T, b []byte) ([]byte, bool) {
	t.Helper()
	path, err := exec.LookPath("zstd")
	if err != nil {
		return nil, false
	}
	cmd := exec.Command(path, "-dc")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd -dc: %v", err)
	}
	return out, true
}

func TestRoundTrip(t *testing.T) {
	writers := map[string]func(*bytes.Buffer, []byte) error{
		"stored":   func(w *bytes.Buffer, in []byte) error { return WriteStored(w, bytes.NewReader(in)) },
		"compress": func(w *bytes.Buffer, in []byte) error { return Compress(w, bytes.NewReader(in)) },
	}
	tool := true
	for name, write := range writers {
		for _, n := range sizes {
			in := input(n)
			var buf bytes.Buffer
			if err := write(&buf, in); err != nil {
				t.Fatalf("%s %d: %v", name, n, err)
			}
			if buf.Len() < 4 || binary.LittleEndian.Uint32(buf.Bytes()) != Magic {
				t.Fatalf("%s %d: no zstd magic: % x", name, n, buf.Bytes()[:min(8, buf.Len())])
			}
			if got := decode(t, buf.Bytes()); !bytes.Equal(got, in) {
				t.Fatalf("%s %d: decoded %d bytes that differ", name, n, len(got))
			}
			if out, ok := zstdTool(t, buf.Bytes()); ok {
				if !bytes.Equal(out, in) {
					t.Fatalf("%s %d: zstd tool gave %d bytes that differ", name, n, len(out))
				}
			} else {
				tool = false
			}
			if name == "stored" && n > 0 && buf.Len() <= n {
				t.Errorf("stored %d: %d bytes, raw blocks cannot be smaller", n, buf.Len())
			}
			if name == "compress" && n >= MaxBlockSize && buf.Len() > n*3/4 {
				t.Errorf("compress %d: %d bytes, half the input is repetitive text", n, buf.Len())
			}
		}
	}
	if !tool {
		t.Log("zstd command not installed: decoded with klauspost/compress only")
	}
}

type failWriter struct{ after int }

var errWrite = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errWrite
	}
	w.after--
	return len(p), nil
}

// Write failures reach the caller, whichever writer.
func TestWriteErrors(t *testing.T) {
	in := input(4 * MaxBlockSize)
	if err := WriteStored(&failWriter{after: 1}, bytes.NewReader(in)); !errors.Is(err, errWrite) {
		t.Errorf("stored: %v", err)
	}
	if err := Compress(&failWriter{}, bytes.NewReader(in)); !errors.Is(err, errWrite) {
		t.Errorf("compress: %v", err)
	}
}
