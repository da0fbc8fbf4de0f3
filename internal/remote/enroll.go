package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gosquery/gosquery/internal/store"
)

// Store keys of the node key, osquery's.
const (
	keyNodeKey     = "nodeKey"
	keyNodeKeyTime = "nodeKeyTime"
)

// platformType is osquery's platform bitmask for Linux (POSIX | LINUX).
const platformType = "9"

// NodeKey returns the node key, enrolling first when none is stored (lazy
// enrollment). With --disable_enrollment it is always "".
func (c *Client) NodeKey(ctx context.Context) (string, error) {
	if c.o.Flags.Bool("disable_enrollment") {
		return "", nil
	}
	if key := c.storedNodeKey(ctx); key != "" {
		return key, nil
	}
	return c.Enroll(ctx)
}

func (c *Client) storedNodeKey(ctx context.Context) string {
	if c.o.Store == nil {
		return ""
	}
	b, ok, err := c.o.Store.Get(ctx, store.DomainConfigurations, keyNodeKey)
	if err != nil || !ok {
		return ""
	}
	return string(b)
}

// clearNodeKey forgets the node key (node_invalid, --enroll_always).
func (c *Client) clearNodeKey(ctx context.Context) {
	if c.o.Store == nil {
		return
	}
	if err := c.o.Store.Delete(ctx, store.DomainConfigurations, keyNodeKey); err != nil {
		c.o.Log.Warn("Cannot delete the node key: " + err.Error())
	}
}

// enrollSecret reads --enroll_secret_path (trimmed), or the variable named
// by --enroll_secret_env.
func (c *Client) enrollSecret() (string, error) {
	if path := c.o.Flags.Get("enroll_secret_path"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("Cannot read enroll secret: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if name := c.o.Flags.Get("enroll_secret_env"); name != "" {
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("Cannot read enroll secret: environment variable %s is not set", name)
		}
		return strings.TrimSpace(v), nil
	}
	return "", nil
}

// Enroll asks the server for a node key, retrying as osquery does: up to
// --tls_enroll_max_attempts (0 = forever), waiting min(k²,
// --tls_enroll_max_interval) seconds before attempt k+1. The key is stored
// with the time of the request. Concurrent callers share one enrollment.
func (c *Client) Enroll(ctx context.Context) (string, error) {
	c.enrollMu.Lock()
	defer c.enrollMu.Unlock()
	// Another caller may have enrolled while this one waited.
	if key := c.storedNodeKey(ctx); key != "" {
		return key, nil
	}
	maxAttempts := c.o.Flags.Int("tls_enroll_max_attempts")
	maxWait := time.Duration(c.o.Flags.Int("tls_enroll_max_interval")) * time.Second
	var lastErr error
	for k := int64(1); maxAttempts == 0 || k <= maxAttempts; k++ {
		key, err := c.enrollOnce(ctx)
		if err == nil {
			return key, nil
		}
		lastErr = err
		c.o.Log.Warn("Failed enrollment request to " + c.o.Flags.Get("tls_hostname") + c.o.Flags.Get("enroll_tls_endpoint") + " (" + err.Error() + ") retrying...")
		if errors.Is(err, ErrNotConfigured) || ctx.Err() != nil {
			break
		}
		if maxAttempts != 0 && k == maxAttempts {
			break
		}
		wait := time.Duration(k*k) * time.Second
		if maxWait > 0 && wait > maxWait {
			wait = maxWait
		}
		if err := c.o.Sleep(ctx, wait); err != nil {
			break
		}
	}
	return "", fmt.Errorf("Failed to enroll after %d attempts: %w", max(maxAttempts, 1), lastErr)
}

func (c *Client) enrollOnce(ctx context.Context) (string, error) {
	secret, err := c.enrollSecret()
	if err != nil {
		return "", err
	}
	body := map[string]any{
		c.o.Flags.Get("tls_enroll_override"): secret,
		"host_identifier":                    c.o.HostIdentifier(),
		"platform_type":                      platformType,
	}
	if c.o.HostDetails != nil {
		body["host_details"] = c.o.HostDetails(ctx)
	} else {
		body["host_details"] = map[string]any{}
	}
	started := c.o.Now()
	ans, err := c.Post(ctx, Request{Path: c.o.Flags.Get("enroll_tls_endpoint"), Body: body, NoNodeKey: true})
	if err != nil {
		return "", err
	}
	key := stringField(ans, "node_key")
	if key == "" {
		key = stringField(ans, "id")
	}
	if key == "" {
		return "", errors.New("Enrollment response did not contain a node key")
	}
	if c.o.Store != nil {
		err := c.o.Store.Update(ctx, func(tx *store.Tx) error {
			if err := tx.Put(store.DomainConfigurations, keyNodeKey, []byte(key)); err != nil {
				return err
			}
			return tx.Put(store.DomainConfigurations, keyNodeKeyTime, []byte(strconv.FormatInt(started.Unix(), 10)))
		})
		if err != nil {
			return "", fmt.Errorf("Cannot store the node key: %w", err)
		}
	}
	c.count(func(s *Stats) { s.Enrollments++ })
	c.o.Log.Info("Enrolled with " + c.o.Flags.Get("tls_hostname"))
	return key, nil
}

// stringField is obj[k] when it is a JSON string, else "".
func stringField(obj map[string]json.RawMessage, k string) string {
	var s string
	if raw, ok := obj[k]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}
