package logger

import (
	"context"
	"testing"
	"time"
)

// benchLines are 10,000 differential event lines of a processes-like
// query (about 640 bytes each).
func benchLines(b *testing.B) [][]byte {
	var lines [][]byte
	err := EventLines(testEnv(), Diff{Added: benchRows(10000)}, func(l []byte) error {
		lines = append(lines, append([]byte(nil), l...))
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return lines
}

// BenchmarkTLS ships result lines to a local remotetest server over real
// TLS: each iteration buffers 10,000 lines (one durable transaction each,
// as the scheduler calls LogResult) and sends them in batches of
// --logger_tls_max_lines (1024) until the buffer is empty, with and without
// --logger_tls_compress. The filesystem plugin writing the same lines to
// osqueryd.results.log is the baseline; tls_batch buffers each
// iteration's lines with one LogResults call. The forwarder's period is not
// waited for: batches are sent back to back, so lines/s is what one
// period could carry at most, not osquery's rate limit (1024 lines per
// --logger_tls_period).
func BenchmarkTLS(b *testing.B) {
	lines := benchLines(b)
	var size int64
	for _, l := range lines {
		size += int64(len(l))
	}
	ctx := context.Background()
	b.Run("filesystem", func(b *testing.B) {
		f, err := NewFilesystem(Config{Path: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			for _, l := range lines {
				if err := f.LogResult(ctx, l); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(lines)*b.N)/b.Elapsed().Seconds(), "lines/s")
	})
	for _, v := range []struct {
		name            string
		compress, batch bool
	}{{"tls", false, false}, {"tls_gzip", true, false}, {"tls_batch", false, true}} {
		compress := v.compress
		b.Run(v.name, func(b *testing.B) {
			h := newHarness(b, true)
			if compress {
				h.fl.Set("logger_tls_compress", "true")
			}
			p := h.open(DefaultTLSSentMemory)
			defer p.Close()
			var appendTime, shipTime time.Duration
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if v.batch {
					if err := p.LogResults(ctx, lines); err != nil {
						b.Fatal(err)
					}
				} else {
					for _, l := range lines {
						if err := p.LogResult(ctx, l); err != nil {
							b.Fatal(err)
						}
					}
				}
				mid := time.Now()
				for p.Stats().BufferedResults > 0 {
					if err := p.forward(ctx, kindResult); err != nil {
						b.Fatal(err)
					}
				}
				appendTime += mid.Sub(start)
				shipTime += time.Since(mid)
			}
			b.StopTimer()
			n := float64(len(lines) * b.N)
			if got := p.Stats().SentResults; got != int64(n) {
				b.Fatalf("sent %d of %v lines", got, n)
			}
			b.ReportMetric(n/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(float64(appendTime.Nanoseconds())/n, "buffer-ns/line")
			b.ReportMetric(float64(shipTime.Nanoseconds())/n, "ship-ns/line")
		})
	}
}
