// Package remotetest is an HTTPS server for tests that speaks osquery's TLS
// remote API as osquery's reference test server and Fleet do, with a CA and
// certificates made at run time. Every request is recorded (gunzipped and
// decoded); handlers can be replaced per path to play a hostile server.
package remotetest

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Endpoint paths the default handlers serve (Fleet's).
const (
	EnrollPath           = "/api/v1/osquery/enroll"
	ConfigPath           = "/api/v1/osquery/config"
	LogPath              = "/api/v1/osquery/log"
	DistributedReadPath  = "/api/v1/osquery/distributed/read"
	DistributedWritePath = "/api/v1/osquery/distributed/write"
	CarveBeginPath       = "/api/v1/osquery/carve/begin"
	CarveBlockPath       = "/api/v1/osquery/carve/block"
)

// CA is a certificate authority made for one test.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// NewCA makes a CA.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gosquery test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key}
}

// CertOptions shape an issued certificate.
type CertOptions struct {
	Hosts     []string // DNS names or IPs; default 127.0.0.1 and localhost
	NotBefore time.Time
	NotAfter  time.Time
	Client    bool // client authentication instead of server
}

// Issue returns a certificate and key signed by the CA, as PEM.
func (ca *CA) Issue(t testing.TB, o CertOptions) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if o.Hosts == nil {
		o.Hosts = []string{"127.0.0.1", "localhost"}
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(12 * time.Hour)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.Hosts[0]},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if o.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// Recorded is one request the server received.
type Recorded struct {
	Path    string
	Header  http.Header
	Raw     []byte         // the body as sent (gzip undone)
	Body    map[string]any // Raw decoded, nil if it was not a JSON object
	Gzipped bool
	Time    time.Time
}

// Handler answers a request: the HTTP status and body.
type Handler func(r Recorded) (status int, body []byte)

// Options configure a Server.
type Options struct {
	EnrollSecret string
	// NodeKey is what enrollment hands out; default "this_is_a_node_secret".
	NodeKey string
	// Config is the answer of the config endpoint; default a schedule of
	// one query.
	Config string
	// TLS tweaks the server's TLS configuration (versions, client auth).
	TLS func(*tls.Config)
	// CertOptions shape the server's certificate (expired, wrong host).
	CertOptions *CertOptions
	// RequireClientCert asks for a client certificate signed by the CA.
	RequireClientCert bool
	// Addr to listen on; default 127.0.0.1:0.
	Addr string
}

// Server is a running test server.
type Server struct {
	CA *CA
	// Host is host:port, the value of --tls_hostname.
	Host string
	// CAFile is the CA bundle path, the value of --tls_server_certs.
	CAFile string

	opts Options
	srv  *http.Server
	ln   net.Listener
	t    testing.TB

	mu        sync.Mutex
	requests  []Recorded
	handlers  map[string]Handler
	nodeKeys  map[string]bool
	issued    int
	conns     int
	redirects map[string]string
	carves    map[string]*Carve
}

// Carve is an upload received through the carve endpoints.
type Carve struct {
	ID, RequestID, SessionID    string
	BlockCount, BlockSize, Size int
	Blocks                      map[int][]byte
	Complete                    bool
}

// Data is the carve's blocks joined in order.
func (c *Carve) Data() []byte {
	var buf bytes.Buffer
	for i := 0; i < c.BlockCount; i++ {
		buf.Write(c.Blocks[i])
	}
	return buf.Bytes()
}

// Start starts a server; it stops when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	ca := NewCA(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if o.NodeKey == "" {
		o.NodeKey = "this_is_a_node_secret"
	}
	if o.Config == "" {
		o.Config = `{"schedule":{"tls_proc":{"query":"select pid from processes limit 1","interval":1}},"node_invalid":false}`
	}
	s := &Server{CA: ca, CAFile: caFile, opts: o, t: t, handlers: map[string]Handler{}, redirects: map[string]string{}, nodeKeys: map[string]bool{}, carves: map[string]*Carve{}}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if err := s.listen(o.Addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *Server) listen(addr string) error {
	co := CertOptions{}
	if s.opts.CertOptions != nil {
		co = *s.opts.CertOptions
	}
	cp, kp := s.CA.Issue(s.t, co)
	cert, err := tls.X509KeyPair(cp, kp)
	if err != nil {
		return err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10}
	if s.opts.RequireClientCert {
		pool := x509.NewCertPool()
		pool.AddCert(s.CA.Cert)
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	if s.opts.TLS != nil {
		s.opts.TLS(cfg)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.Host = ln.Addr().String()
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), TLSConfig: cfg,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.mu.Lock()
				s.conns++
				s.mu.Unlock()
			}
		}, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.ServeTLS(ln, "", "")
	return nil
}

// Close stops the server.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

// Restart starts the server again on the same address (after Close), as
// a server back from an outage.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for i := 0; i < 50; i++ {
		if err = s.listen(s.Host); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("restart on %s: %v", s.Host, err)
}

// Flags are the daemon flags that point at this server with Fleet's paths.
func (s *Server) Flags() []string {
	return []string{
		"--tls_hostname=" + s.Host,
		"--tls_server_certs=" + s.CAFile,
		"--enroll_tls_endpoint=" + EnrollPath,
		"--config_tls_endpoint=" + ConfigPath,
		"--logger_tls_endpoint=" + LogPath,
		"--distributed_tls_read_endpoint=" + DistributedReadPath,
		"--distributed_tls_write_endpoint=" + DistributedWritePath,
		"--carver_start_endpoint=" + CarveBeginPath,
		"--carver_continue_endpoint=" + CarveBlockPath,
	}
}

// Connections is the number of TCP connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Redirect answers requests on from with a 307 to location.
func (s *Server) Redirect(from, location string) {
	s.mu.Lock()
	s.redirects[from] = location
	s.mu.Unlock()
}

// Handle replaces the handler of path.
func (s *Server) Handle(path string, h Handler) {
	s.mu.Lock()
	s.handlers[path] = h
	s.mu.Unlock()
}

// Requests returns the requests received on path ("" for all), in order.
func (s *Server) Requests(path string) []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Recorded
	for _, r := range s.requests {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Carves returns the carves received, by session id.
func (s *Server) Carves() map[string]*Carve {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*Carve{}
	for k, v := range s.carves {
		c := *v
		c.Blocks = make(map[int][]byte, len(v.Blocks))
		for i, b := range v.Blocks {
			c.Blocks[i] = b
		}
		out[k] = &c
	}
	return out
}

// Wait polls until ok holds for the requests on path or the timeout ends.
func (s *Server) Wait(path string, timeout time.Duration, ok func([]Recorded) bool) ([]Recorded, bool) {
	deadline := time.Now().Add(timeout)
	for {
		reqs := s.Requests(path)
		if ok(reqs) {
			return reqs, true
		}
		if time.Now().After(deadline) {
			return reqs, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 256<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec := Recorded{Path: r.URL.Path, Header: r.Header.Clone(), Time: time.Now()}
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		rec.Gzipped = true
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			raw, err = io.ReadAll(zr)
		}
		if err != nil {
			http.Error(w, "bad gzip: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	rec.Raw = raw
	var body map[string]any
	if json.Unmarshal(raw, &body) == nil {
		rec.Body = body
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	h := s.handlers[rec.Path]
	loc, redirect := s.redirects[rec.Path]
	s.mu.Unlock()
	if redirect {
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	if h == nil {
		h = s.defaultHandler(rec.Path)
	}
	status, answer := h(rec)
	w.Header().Set("Content-Type", "application/json")
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(status)
		zw := gzip.NewWriter(w)
		zw.Write(answer)
		zw.Close()
		return
	}
	w.WriteHeader(status)
	w.Write(answer)
}

// NodeKeyOf is the node key a request carries in its body.
func NodeKeyOf(r Recorded) string {
	k, _ := r.Body["node_key"].(string)
	return k
}

// Invalidate makes the server forget every node key it handed out, as a
// Fleet host deleted from the UI.
func (s *Server) Invalidate() {
	s.mu.Lock()
	s.nodeKeys = map[string]bool{}
	s.mu.Unlock()
}

func (s *Server) validKey(r Recorded) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodeKeys[NodeKeyOf(r)]
}

// NodeInvalid is the answer to an unknown node key, as Fleet gives it.
var NodeInvalid = []byte(`{"error":"invalid node key","node_invalid":true}`)

func (s *Server) defaultHandler(path string) Handler {
	switch path {
	case EnrollPath:
		return func(r Recorded) (int, []byte) {
			if secret, _ := r.Body["enroll_secret"].(string); secret != s.opts.EnrollSecret {
				return http.StatusUnauthorized, []byte(`{"error":"enroll failed: invalid secret","node_invalid":true}`)
			}
			s.mu.Lock()
			n := s.issued
			s.issued++
			key := s.opts.NodeKey
			if n > 0 {
				key = fmt.Sprintf("%s-%d", s.opts.NodeKey, n)
			}
			s.nodeKeys[key] = true
			s.mu.Unlock()
			return http.StatusOK, []byte(`{"node_key":"` + key + `"}`)
		}
	case ConfigPath:
		return func(r Recorded) (int, []byte) {
			if !s.validKey(r) {
				return http.StatusUnauthorized, NodeInvalid
			}
			return http.StatusOK, []byte(s.opts.Config)
		}
	case LogPath, DistributedWritePath:
		return func(r Recorded) (int, []byte) {
			if !s.validKey(r) {
				return http.StatusUnauthorized, NodeInvalid
			}
			return http.StatusOK, []byte(`{}`)
		}
	case DistributedReadPath:
		return func(r Recorded) (int, []byte) {
			if !s.validKey(r) {
				return http.StatusUnauthorized, NodeInvalid
			}
			return http.StatusOK, []byte(`{"queries":{}}`)
		}
	case CarveBeginPath:
		return s.carveBegin
	case CarveBlockPath:
		return s.carveBlock
	}
	return func(Recorded) (int, []byte) { return http.StatusNotFound, []byte(`{"error":"not found"}`) }
}

func num(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case string:
		var n int
		fmt.Sscan(x, &n)
		return n
	}
	return 0
}

func (s *Server) carveBegin(r Recorded) (int, []byte) {
	if !s.validKey(r) {
		return http.StatusUnauthorized, NodeInvalid
	}
	id, _ := r.Body["carve_id"].(string)
	req, _ := r.Body["request_id"].(string)
	c := &Carve{ID: id, RequestID: req, BlockCount: num(r.Body["block_count"]), BlockSize: num(r.Body["block_size"]),
		Size: num(r.Body["carve_size"]), Blocks: map[int][]byte{}}
	b := make([]byte, 10)
	rand.Read(b)
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	c.SessionID = string(b)
	s.mu.Lock()
	s.carves[c.SessionID] = c
	s.mu.Unlock()
	return http.StatusOK, []byte(`{"session_id":"` + c.SessionID + `"}`)
}

func (s *Server) carveBlock(r Recorded) (int, []byte) {
	sid, _ := r.Body["session_id"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.carves[sid]
	if c == nil {
		return http.StatusNotFound, []byte(`{"error":"unknown session"}`)
	}
	data, err := base64.StdEncoding.DecodeString(fmt.Sprint(r.Body["data"]))
	if err != nil {
		return http.StatusBadRequest, []byte(`{"error":"bad base64"}`)
	}
	id := num(r.Body["block_id"])
	if id < 0 || id >= c.BlockCount {
		return http.StatusBadRequest, []byte(`{"error":"block_id out of range"}`)
	}
	c.Blocks[id] = data
	c.Complete = len(c.Blocks) == c.BlockCount
	return http.StatusOK, []byte(`{}`)
}

// Data items of the log requests of one log_type, in arrival order.
func (s *Server) LogItems(logType string) []map[string]any {
	var out []map[string]any
	for _, r := range s.Requests(LogPath) {
		if t, _ := r.Body["log_type"].(string); t != logType {
			continue
		}
		items, _ := r.Body["data"].([]any)
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// Keys lists a decoded body's keys, sorted (for assertions).
func Keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ErrNoCarve is returned by WaitCarve when no carve completed in time.
var ErrNoCarve = errors.New("no complete carve")

// WaitCarve waits for a complete carve.
func (s *Server) WaitCarve(timeout time.Duration) (*Carve, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, c := range s.Carves() {
			if c.Complete {
				return c, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, ErrNoCarve
}
