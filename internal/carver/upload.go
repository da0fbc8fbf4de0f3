package carver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gosquery/gosquery/internal/remote"
)

// Limits of the upload.
const (
	// attempts is how often each request is tried (i² s apart).
	attempts = 3
	// defaultBlockSize is osquery's --carver_block_size.
	defaultBlockSize = 8192
	// maxBlockSize bounds one block: a block is held in memory three
	// times over (the bytes, base64, the JSON body).
	maxBlockSize = 64 << 20
)

// blockSize is --carver_block_size, kept to what can be sent.
func (c *Carver) blockSize() int64 {
	bs := c.o.Flags.Int("carver_block_size")
	switch {
	case bs < 1:
		c.o.Log.Warn(fmt.Sprintf("--carver_block_size=%d is not a size; using %d", bs, defaultBlockSize))
		return defaultBlockSize
	case bs > maxBlockSize:
		c.o.Log.Warn(fmt.Sprintf("--carver_block_size=%d is over the limit; using %d", bs, maxBlockSize))
		return maxBlockSize
	}
	return bs
}

// post uploads the file at path for r: a start request that must answer a
// session id, then every block in order. Each request is tried attempts
// times; a block that still fails ends the upload (osquery skips it and
// reports SUCCESS for an archive the server cannot reassemble).
func (c *Carver) post(ctx context.Context, r *Record, path string) error {
	cl := c.o.Client
	if cl == nil {
		return errors.New("no TLS remote client (--tls_hostname)")
	}
	start, cont := c.o.Flags.Get("carver_start_endpoint"), c.o.Flags.Get("carver_continue_endpoint")
	if c.o.Flags.Get("tls_hostname") == "" || start == "" || cont == "" {
		return errors.New("--tls_hostname, --carver_start_endpoint and --carver_continue_endpoint are needed to upload a carve")
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	bs := c.blockSize()
	count := (size + bs - 1) / bs

	var ans map[string]json.RawMessage
	err = cl.Retry(ctx, attempts, func() error {
		var err error
		ans, err = cl.Post(ctx, remote.Request{Path: start, Body: map[string]any{
			"block_count": count,
			"block_size":  bs,
			"carve_size":  size,
			"carve_id":    r.GUID,
			"request_id":  r.RequestID,
		}})
		return err
	})
	if err != nil {
		return fmt.Errorf("carve start request: %w", err)
	}
	session, err := sessionID(ans)
	if err != nil {
		return err
	}

	buf := make([]byte, bs)
	for i := int64(0); i < count; i++ {
		n, err := io.ReadFull(f, buf)
		if err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) && i == count-1) {
			return fmt.Errorf("read block %d of %s: %w", i, path, err)
		}
		body := map[string]any{
			"block_id":   i,
			"session_id": session,
			"request_id": r.RequestID,
			"data":       base64.StdEncoding.EncodeToString(buf[:n]),
		}
		err = cl.Retry(ctx, attempts, func() error {
			_, err := cl.Post(ctx, remote.Request{Path: cont, Body: body, NoNodeKey: true})
			return err
		})
		if err != nil {
			return fmt.Errorf("post of carved block %d of %d: %w", i, count, err)
		}
	}
	return nil
}

// sessionID is the start answer's session_id, which must be a non-empty
// string.
func sessionID(ans map[string]json.RawMessage) (string, error) {
	raw, ok := ans["session_id"]
	if !ok {
		return "", errors.New("No session_id received from remote endpoint")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errors.New("Invalid session_id received from remote endpoint")
	}
	if s == "" {
		return "", errors.New("Empty session_id received from remote endpoint")
	}
	return s, nil
}
