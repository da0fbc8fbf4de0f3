package carver_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/carver"
	"github.com/gosquery/gosquery/internal/carver/carvertest"
	"github.com/gosquery/gosquery/internal/remote/remotetest"
)

const benchSize = 50 << 20

// benchFile writes 50 MiB: random bytes, or log-like text that zstd
// compresses as it would a real log.
func benchFile(b *testing.B, text bool) string {
	b.Helper()
	data := make([]byte, benchSize)
	r := rand.New(rand.NewPCG(1, 2))
	if text {
		var buf bytes.Buffer
		for buf.Len() < benchSize {
			buf.WriteString(time.Unix(1_750_000_000+int64(r.IntN(86400)), 0).UTC().Format(time.RFC3339))
			buf.WriteString(" host sshd[")
			buf.WriteString(string(rune('0' + r.IntN(10))))
			buf.WriteString("]: Accepted publickey for user")
			buf.WriteString(string(rune('a' + r.IntN(26))))
			buf.WriteString(" from 10.0.0.")
			buf.WriteString(string(rune('0' + r.IntN(10))))
			buf.WriteString("\n")
		}
		data = buf.Bytes()[:benchSize]
	} else {
		for i := 0; i+8 <= len(data); i += 8 {
			v := r.Uint64()
			for j := 0; j < 8; j++ {
				data[i+j] = byte(v >> (8 * j))
			}
		}
	}
	p := filepath.Join(b.TempDir(), "big")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkCarve50MB times a whole carve of one 50 MiB file to the local
// HTTPS test server: scheduling, archive (and compression), hashing and
// the block uploads, until the record says SUCCESS. MB/s is of the file.
// Run with: go test -run '^$' -bench Carve50MB -benchtime 3x ./internal/carver/
func BenchmarkCarve50MB(b *testing.B) {
	for _, c := range []struct {
		name string
		text bool
		args []string
	}{
		{"tar/block=8KiB", false, nil},
		{"tar/block=2MB", false, []string{"--carver_block_size=2000000"}},
		{"zstd-random/block=2MB", false, []string{"--carver_block_size=2000000", "--carver_compression=true"}},
		{"zstd-text/block=2MB", true, []string{"--carver_block_size=2000000", "--carver_compression=true"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			path := benchFile(b, c.text)
			b.SetBytes(benchSize)
			var uploaded, requests int
			var upload time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				h := carvertest.Start(b, carvertest.Options{Args: c.args})
				b.StartTimer()
				guid := schedule(b, h.Carver, context.Background(), []string{path})
				rec := h.Wait(b, guid, 10*time.Minute)
				b.StopTimer()
				if rec.Status != carver.StatusSuccess {
					b.Fatalf("record %+v", rec)
				}
				starts := h.Server.Requests(remotetest.CarveBeginPath)
				blocks := h.Server.Requests(remotetest.CarveBlockPath)
				upload += blocks[len(blocks)-1].Time.Sub(starts[0].Time)
				uploaded += int(rec.Size)
				requests += len(blocks) + 1
				b.StartTimer()
			}
			b.ReportMetric(float64(uploaded)/float64(b.N)/(1<<20), "MiB-sent/op")
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
			b.ReportMetric(float64(uploaded)/(1<<20)/upload.Seconds(), "upload-MiB/s")
		})
	}
}
