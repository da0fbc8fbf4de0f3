// Package remote is the client side of osquery's TLS remote API, the one
// Fleet speaks: one HTTPS client for enrollment, config, logs, distributed
// queries and carves, the node key it enrolls for and keeps in the store,
// and the body-based success rules every endpoint shares. The plugins that
// use it live with their peers (config, logger, distributed, carver).
package remote

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/store"
	"github.com/gosquery/gosquery/internal/version"
)

// Limits of one exchange. osquery has a 16 s timeout and no size limit; a
// bound on the answer keeps a hostile or broken server from exhausting
// memory (a config or a batch of live queries is far smaller).
const (
	RequestTimeout  = 16 * time.Second
	MaxResponseSize = 32 << 20
	maxRedirects    = 10
)

// Errors callers tell apart.
var (
	// ErrNodeInvalid is the server's "node_invalid": true. The cached node
	// key has been dropped (unless --disable_reenrollment), so the next
	// request enrolls again.
	ErrNodeInvalid = errors.New("Request failed: Invalid node key")
	// ErrNotConfigured means --tls_hostname or the endpoint is empty.
	ErrNotConfigured = errors.New("TLS remote API not configured")
)

// Options are what the client needs from the daemon.
type Options struct {
	Flags *flags.Set
	Store *store.DB
	Log   *slog.Logger
	// HostIdentifier is --host_identifier's value now.
	HostIdentifier func() string
	// HostDetails returns the first row of each of os_version,
	// osquery_info, platform_info and system_info, keyed by table; a
	// table without rows is left out.
	HostDetails func(ctx context.Context) map[string]map[string]string
	// Sleep waits between retries; nil sleeps for real, interrupted by
	// ctx. Tests shorten it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Timeout bounds one exchange; 0 is RequestTimeout (osquery's 16 s).
	Timeout time.Duration
}

// Client sends requests to the --tls_hostname server. It is safe for
// concurrent use; connections are reused (--tls_session_reuse) and the
// underlying client is recreated every --tls_session_timeout seconds, as
// osquery does.
type Client struct {
	o Options

	mu      sync.Mutex
	http    *http.Client
	created time.Time
	tlsErr  error

	enrollMu sync.Mutex // one enrollment at a time
	stats    Stats
}

// Stats counts the client's exchanges, for osquery_info-style views and
// the status log.
type Stats struct {
	Requests, Failures, Enrollments, NodeInvalid int64
	BytesSent, BytesReceived                     int64
}

// New builds a client. Errors in the TLS material (an unreadable client
// certificate, a bundle without certificates) are reported by every
// request, so a plugin that never talks to the server never fails.
func New(o Options) *Client {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = SleepContext
	}
	if o.Timeout <= 0 {
		o.Timeout = RequestTimeout
	}
	if o.HostIdentifier == nil {
		o.HostIdentifier = func() string { h, _ := os.Hostname(); return h }
	}
	c := &Client{o: o}
	if o.Flags.Bool("enroll_always") && !o.Flags.Bool("disable_enrollment") {
		c.clearNodeKey(context.Background())
	}
	return c
}

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// SleepContext waits d or until ctx ends (then it returns ctx's error):
// the real sleep behind Options.Sleep, for the workers built on the
// client.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sleep waits d or until ctx ends, with the client's clock (tests).
func (c *Client) Sleep(ctx context.Context, d time.Duration) error { return c.o.Sleep(ctx, d) }

// Flags returns the flags the client reads.
func (c *Client) Flags() *flags.Set { return c.o.Flags }

// Log returns the client's logger.
func (c *Client) Log() *slog.Logger { return c.o.Log }

// Store returns the state store.
func (c *Client) Store() *store.DB { return c.o.Store }

// tlsConfig is osquery's TLS policy: TLS 1.2 or later, the server verified
// against --tls_server_certs (the system roots when the bundle does not
// exist), only forward-secret AEAD suites for TLS 1.2, an optional client
// certificate.
func (c *Client) tlsConfig() (*tls.Config, error) {
	fl := c.o.Flags
	host := fl.Get("tls_hostname")
	name, _, err := net.SplitHostPort(host)
	if err != nil {
		name = host
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: name,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
	if path := fl.Get("tls_server_certs"); path != "" {
		pem, err := os.ReadFile(path)
		switch {
		case err == nil:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--tls_server_certs %s holds no PEM certificate", path)
			}
			cfg.RootCAs = pool
		case errors.Is(err, os.ErrNotExist) && !fl.Changed("tls_server_certs"):
			// osquery's default bundle path does not exist on this host:
			// verify against the system's roots, as osquery does.
		default:
			return nil, fmt.Errorf("--tls_server_certs: %w", err)
		}
	}
	certPath, keyPath := fl.Get("tls_client_cert"), fl.Get("tls_client_key")
	if certPath != "" || keyPath != "" {
		if certPath == "" || keyPath == "" {
			return nil, errors.New("--tls_client_cert and --tls_client_key go together")
		}
		pair, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// httpClient returns the pooled client, rebuilding it when the session
// timeout has passed.
func (c *Client) httpClient() (*http.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	timeout := time.Duration(c.o.Flags.Int("tls_session_timeout")) * time.Second
	if c.http != nil && (timeout <= 0 || c.o.Now().Sub(c.created) < timeout) {
		return c.http, c.tlsErr
	}
	if c.http != nil {
		c.http.CloseIdleConnections()
	}
	cfg, err := c.tlsConfig()
	tr := &http.Transport{
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: c.o.Timeout,
		DisableKeepAlives:   !c.o.Flags.Bool("tls_session_reuse"),
		DisableCompression:  true, // gzip is asked for (--tls_accept_gzip) and undone here
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	if p := c.o.Flags.Get("proxy_hostname"); p != "" {
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: p})
	}
	c.http = &http.Client{
		Transport: tr,
		Timeout:   c.o.Timeout,
		// Redirects are followed by post, which keeps the method and
		// body and refuses to leave https.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c.created, c.tlsErr = c.o.Now(), err
	return c.http, err
}

// URI is https:// + --tls_hostname + path, as osquery builds it.
func (c *Client) URI(path string) (string, error) {
	host := c.o.Flags.Get("tls_hostname")
	if host == "" || path == "" {
		return "", ErrNotConfigured
	}
	uri := "https://" + host + path
	if c.o.Flags.Bool("tls_secret_always") {
		secret, err := c.enrollSecret()
		if err == nil {
			sep := "?"
			if strings.Contains(uri, "?") {
				sep = "&"
			}
			uri += sep + url.QueryEscape(c.o.Flags.Get("tls_enroll_override")) + "=" + url.QueryEscape(secret)
		}
	}
	return uri, nil
}

// Request is one POST.
type Request struct {
	// Path is the endpoint (--config_tls_endpoint's value...).
	Path string
	// Body is the JSON object sent; node_key is added unless NoNodeKey.
	// json.RawMessage values are sent as they are, without the copy and
	// validation encoding/json would make (a live query's 10 MB of rows):
	// they must be valid JSON.
	Body map[string]any
	// NoNodeKey leaves node_key out (enrollment, carve blocks).
	NoNodeKey bool
	// Compress gzips the body (--logger_tls_compress).
	Compress bool
}

// Post sends r and returns the answer's JSON object. Success is decided
// from the body, as osquery does: an empty body is {}, non-JSON is a
// failure, "node_invalid": true is ErrNodeInvalid (and drops the node key),
// an "error" key is a failure. Unlike osquery, an HTTP status outside 2xx
// is a failure too: osquery would take a proxy's empty 503 as success and
// delete the logs it just sent.
func (c *Client) Post(ctx context.Context, r Request) (map[string]json.RawMessage, error) {
	obj, _, err := c.exchange(ctx, r)
	return obj, err
}

// PostRaw is Post returning the answer's bytes as received (gzip undone),
// for the config plugin, which keeps the document as the server wrote it.
func (c *Client) PostRaw(ctx context.Context, r Request) ([]byte, error) {
	_, raw, err := c.exchange(ctx, r)
	return raw, err
}

func (c *Client) exchange(ctx context.Context, r Request) (map[string]json.RawMessage, []byte, error) {
	uri, err := c.URI(r.Path)
	if err != nil {
		return nil, nil, err
	}
	body := r.Body
	if body == nil {
		body = map[string]any{}
	}
	if !r.NoNodeKey {
		key, err := c.NodeKey(ctx)
		if err != nil {
			return nil, nil, err
		}
		body = withField(body, "node_key", key)
	}
	if c.o.Flags.Bool("tls_secret_always") {
		if s, err := c.enrollSecret(); err == nil {
			body = withField(body, c.o.Flags.Get("tls_enroll_override"), s)
		}
	}
	payload, err := encodeBody(body)
	if err != nil {
		return nil, nil, fmt.Errorf("encode request to %s: %w", r.Path, err)
	}
	key := ""
	if !r.NoNodeKey {
		key, _ = body["node_key"].(string)
	}
	resp, raw, err := c.post(ctx, uri, payload, key, r.Compress)
	c.count(func(s *Stats) {
		s.Requests++
		s.BytesSent += int64(len(payload))
		if err != nil {
			s.Failures++
		}
	})
	if errors.Is(err, ErrNodeInvalid) {
		c.count(func(s *Stats) { s.NodeInvalid++ })
		if !c.o.Flags.Bool("disable_reenrollment") && !r.NoNodeKey {
			c.clearNodeKey(ctx)
		}
	}
	return resp, raw, err
}

func (c *Client) count(fn func(*Stats)) {
	c.mu.Lock()
	fn(&c.stats)
	c.mu.Unlock()
}

// encodeBody writes body as a JSON object, keys sorted, RawMessage values
// appended as they are.
func encodeBody(body map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(body))
	size := 2
	for k, v := range body {
		keys = append(keys, k)
		if raw, ok := v.(json.RawMessage); ok {
			size += len(raw)
		}
		size += len(k) + 8
	}
	sort.Strings(keys)
	out := make([]byte, 0, size+256)
	out = append(out, '{')
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		kb, _ := json.Marshal(k)
		out = append(out, kb...)
		out = append(out, ':')
		if raw, ok := body[k].(json.RawMessage); ok && len(raw) > 0 {
			out = append(out, raw...)
			continue
		}
		vb, err := json.Marshal(body[k])
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		out = append(out, vb...)
	}
	return append(out, '}'), nil
}

// withField returns body with k set, leaving the caller's map untouched.
func withField(body map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(body)+1)
	for kk, vv := range body {
		out[kk] = vv
	}
	out[k] = v
	return out
}

func (c *Client) post(ctx context.Context, uri string, payload []byte, nodeKey string, compress bool) (map[string]json.RawMessage, []byte, error) {
	hc, err := c.httpClient()
	if err != nil {
		return nil, nil, err
	}
	sent := payload
	if compress {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(payload)
		zw.Close()
		sent = buf.Bytes()
	}
	for hop := 0; ; hop++ {
		u, err := url.Parse(uri)
		if err != nil || u.Scheme != "https" {
			return nil, nil, fmt.Errorf("Cannot create TLS request for non-HTTPS protocol URI: %s", uri)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, bytes.NewReader(sent))
		if err != nil {
			return nil, nil, fmt.Errorf("request %s: %w", uri, err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "osquery/"+version.Osquery)
		if nodeKey != "" {
			req.Header.Set("Authorization", "NodeKey "+nodeKey)
		}
		if compress {
			req.Header.Set("Content-Encoding", "gzip")
		}
		if c.o.Flags.Bool("tls_accept_gzip") {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, nil, fmt.Errorf("Request error: %w", err)
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "" {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if hop >= maxRedirects {
				return nil, nil, fmt.Errorf("Request error: more than %d redirects from %s", maxRedirects, uri)
			}
			next, err := u.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, nil, fmt.Errorf("Request error: bad redirect from %s: %w", uri, err)
			}
			uri = next.String()
			continue
		}
		data, err := readBody(resp)
		resp.Body.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("Request error: %s: %w", uri, err)
		}
		c.count(func(s *Stats) { s.BytesReceived += int64(len(data)) })
		obj, err := decodeAnswer(resp.StatusCode, data)
		return obj, data, err
	}
}

// readBody reads at most MaxResponseSize bytes, gunzipping a gzip answer
// under the same bound.
func readBody(resp *http.Response) ([]byte, error) {
	var r io.Reader = resp.Body
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip answer: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxResponseSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxResponseSize {
		return nil, fmt.Errorf("answer larger than %d bytes", MaxResponseSize)
	}
	return data, nil
}

// decodeAnswer applies the success rules to an answer.
func decodeAnswer(status int, data []byte) (map[string]json.RawMessage, error) {
	obj := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
			if status < 200 || status > 299 {
				return nil, fmt.Errorf("Request failed: HTTP %d", status)
			}
			return nil, errors.New("Request failed: answer is not a JSON object")
		}
	}
	if raw, ok := obj["node_invalid"]; ok {
		var invalid bool
		if json.Unmarshal(raw, &invalid) == nil && invalid {
			if msg := errorText(obj); msg != "" {
				return nil, fmt.Errorf("%w: %s", ErrNodeInvalid, msg)
			}
			return nil, ErrNodeInvalid
		}
	}
	if _, ok := obj["error"]; ok {
		return nil, fmt.Errorf("Request failed: %s", errorText(obj))
	}
	if status < 200 || status > 299 {
		return nil, fmt.Errorf("Request failed: HTTP %d", status)
	}
	return obj, nil
}

func errorText(obj map[string]json.RawMessage) string {
	raw, ok := obj["error"]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// Retry calls fn up to attempts times (0 means once), sleeping i² seconds
// after failed attempt i as osquery's helper does; shutdown (ctx) stops
// the waits.
func (c *Client) Retry(ctx context.Context, attempts int64, fn func() error) error {
	if attempts < 1 {
		attempts = 1
	}
	var err error
	for i := int64(1); i <= attempts; i++ {
		if err = fn(); err == nil {
			return nil
		}
		if i == attempts {
			break
		}
		if serr := c.o.Sleep(ctx, time.Duration(i*i)*time.Second); serr != nil {
			return errors.Join(err, serr)
		}
	}
	return err
}

type requestIDKey struct{}

// WithRequestID marks ctx as running the distributed query id, so what the
// query starts (a carve) can name the request it belongs to.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the distributed query id ctx runs, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
