// Package extension is the Go SDK for writing osquery extensions that
// work with gosquery and with osquery itself: a process that registers
// tables (and config or logger plugins) with the core over its extension
// socket, then answers the core's calls on a socket of its own.
//
//	srv, err := extension.NewServer(*socket, "hello", extension.WithTimeout(3*time.Second))
//	srv.RegisterTable(extension.Table{Name: "hello_world", Columns: cols, Generate: gen})
//	err = srv.Run() // until the core goes away or asks us to stop
//
// Generators are called concurrently, one call per query that reads the
// table, and must be safe for that.
package extension

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gosquery/gosquery/internal/extensions/gen/osquery"
	"github.com/gosquery/gosquery/internal/extensions/wire"
	"github.com/gosquery/gosquery/internal/version"
)

// ColumnType is a column's SQL type, as osquery names it.
type ColumnType string

// Column types.
const (
	Text           ColumnType = "TEXT"
	Integer        ColumnType = "INTEGER"
	BigInt         ColumnType = "BIGINT"
	UnsignedBigInt ColumnType = "UNSIGNED BIGINT"
	Double         ColumnType = "DOUBLE"
	Blob           ColumnType = "BLOB"
)

// ColumnOptions are osquery's column options (a bitmask). A column with no
// options gets constraints pushed down anyway while the core runs with
// --extensions_default_index (the default).
type ColumnOptions uint8

// Column options.
const (
	// Index columns receive their WHERE constraints in the QueryContext.
	Index ColumnOptions = 1
	// Required columns must be constrained, or the query fails.
	Required ColumnOptions = 2
	// Additional columns receive constraints and select what is generated.
	Additional ColumnOptions = 4
	// Optimized columns receive whole IN lists.
	Optimized ColumnOptions = 8
	// Hidden columns are left out of SELECT *.
	Hidden ColumnOptions = 16
)

// Column declares one column.
type Column struct {
	Name    string
	Type    ColumnType
	Options ColumnOptions
}

// Operator is a constraint's operator, with osquery's codes.
type Operator int

// Constraint operators.
const (
	Equals             Operator = 2
	GreaterThan        Operator = 4
	LessThanOrEquals   Operator = 8
	LessThan           Operator = 16
	GreaterThanOrEqual Operator = 32
	Match              Operator = 64
	Like               Operator = 65
	Glob               Operator = 66
	Regexp             Operator = 67
)

// Constraint is one pushed-down term: column <Operator> Expression.
type Constraint struct {
	Operator   Operator
	Expression string
}

// ConstraintList is a column's constraints and type.
type ConstraintList struct {
	Affinity    ColumnType
	Constraints []Constraint
}

// QueryContext is what the core tells a generator about the query. The
// constraints are a hint: the core re-checks every row, so returning more
// rows than asked is correct, returning fewer is not.
type QueryContext struct {
	// Constraints holds every column of the table, most with no
	// constraints.
	Constraints map[string]ConstraintList
	// ColsUsed lists the columns the query reads; nil if the core did not
	// say (then assume all).
	ColsUsed []string
}

// Equals returns the values the column is compared to with = (or IN).
func (qc QueryContext) Equals(column string) []string {
	var out []string
	for _, c := range qc.Constraints[column].Constraints {
		if c.Operator == Equals {
			out = append(out, c.Expression)
		}
	}
	return out
}

// Used reports whether the query reads the column.
func (qc QueryContext) Used(column string) bool {
	if qc.ColsUsed == nil {
		return true
	}
	for _, c := range qc.ColsUsed {
		if c == column {
			return true
		}
	}
	return false
}

// GenerateFunc produces a table's rows, each a map from column name to
// value as text. A missing column or a value that does not parse as the
// column's type is NULL.
type GenerateFunc func(ctx context.Context, qc QueryContext) ([]map[string]string, error)

// Table is a table plugin.
type Table struct {
	Name     string
	Columns  []Column
	Generate GenerateFunc
}

// ConfigPlugin is a config plugin: the core selects it with
// --config_plugin=<Name>.
type ConfigPlugin struct {
	Name string
	// GenConfig returns config sources: source name -> JSON text.
	GenConfig func(ctx context.Context) (map[string]string, error)
	// GenPack resolves a pack given by name and value; nil if unsupported.
	GenPack func(ctx context.Context, name, value string) (string, error)
}

// LogType says what a logger plugin is given.
type LogType int

// Log types.
const (
	// LogResult is a scheduled query's result line.
	LogResult LogType = iota
	// LogSnapshot is a snapshot query's result line.
	LogSnapshot
	// LogStatus is a JSON array of status messages
	// ({"s":severity,"f":file,"i":line,"m":message,"h":host,"c":time,"u":unix}).
	LogStatus
)

// LoggerPlugin is a logger plugin: the core selects it with
// --logger_plugin=<Name>.
type LoggerPlugin struct {
	Name string
	Log  func(ctx context.Context, typ LogType, text string) error
}

// Option configures a Server.
type Option func(*Server)

// WithVersion sets the version the extension reports.
func WithVersion(v string) Option { return func(s *Server) { s.version = v } }

// WithTimeout sets how long Run waits for the core's socket and each call
// to the core may take (osquery passes --timeout in seconds). Default 3s.
func WithTimeout(d time.Duration) Option { return func(s *Server) { s.timeout = d } }

// WithPingInterval sets how often the extension checks that the core is
// still there and still has it registered (osquery passes --interval in
// seconds). Default 3s.
func WithPingInterval(d time.Duration) Option { return func(s *Server) { s.interval = d } }

// WithLogger sets where the SDK reports what it does. Default: nowhere.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// ErrDeregistered is returned by Run when the core dropped the extension
// (it failed health checks, or another client deregistered it).
var ErrDeregistered = errors.New("extension is no longer registered with the osquery core")

// Server is an extension: its plugins, its registration with the core and
// the socket it serves.
type Server struct {
	socket   string
	name     string
	version  string
	timeout  time.Duration
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	tables  map[string]*Table
	configs map[string]*ConfigPlugin
	loggers map[string]*LoggerPlugin
	uuid    int64
	running bool
	client  *wire.Client
	srv     *wire.Server
	done    chan struct{}
	doneOne sync.Once
}

// NewServer returns an extension called name that will register with the
// core listening on socketPath (osquery's --socket).
func NewServer(socketPath, name string, opts ...Option) (*Server, error) {
	if socketPath == "" {
		return nil, errors.New("extension: no core socket path")
	}
	if name == "" {
		return nil, errors.New("extension: no name")
	}
	s := &Server{socket: socketPath, name: name, version: "1.0.0", timeout: 3 * time.Second, interval: 3 * time.Second,
		log: slog.New(slog.DiscardHandler), tables: map[string]*Table{}, configs: map[string]*ConfigPlugin{},
		loggers: map[string]*LoggerPlugin{}, done: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	s.timeout = max(s.timeout, 200*time.Millisecond)
	s.interval = max(s.interval, 200*time.Millisecond)
	return s, nil
}

func (s *Server) checkName(kind, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return fmt.Errorf("extension: cannot add %s %s after Run", kind, name)
	}
	if name == "" {
		return fmt.Errorf("extension: %s without a name", kind)
	}
	return nil
}

// RegisterTable adds a table; call before Run.
func (s *Server) RegisterTable(t Table) error {
	if err := s.checkName("table", t.Name); err != nil {
		return err
	}
	if len(t.Columns) == 0 || t.Generate == nil {
		return fmt.Errorf("extension: table %s needs columns and a Generate function", t.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tables[t.Name] = &t
	return nil
}

// RegisterConfig adds a config plugin; call before Run.
func (s *Server) RegisterConfig(p ConfigPlugin) error {
	if err := s.checkName("config plugin", p.Name); err != nil {
		return err
	}
	if p.GenConfig == nil {
		return fmt.Errorf("extension: config plugin %s needs GenConfig", p.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configs[p.Name] = &p
	return nil
}

// RegisterLogger adds a logger plugin; call before Run.
func (s *Server) RegisterLogger(p LoggerPlugin) error {
	if err := s.checkName("logger plugin", p.Name); err != nil {
		return err
	}
	if p.Log == nil {
		return fmt.Errorf("extension: logger plugin %s needs Log", p.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loggers[p.Name] = &p
	return nil
}

// UUID is the uuid the core assigned, 0 before registration.
func (s *Server) UUID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uuid
}

// broadcast is the registry sent to registerExtension.
func (s *Server) broadcast() osquery.ExtensionRegistry {
	reg := osquery.ExtensionRegistry{}
	if len(s.tables) > 0 {
		rt := osquery.ExtensionRouteTable{}
		for name, t := range s.tables {
			rt[name] = t.routes()
		}
		reg["table"] = rt
	}
	if len(s.configs) > 0 {
		rt := osquery.ExtensionRouteTable{}
		for name := range s.configs {
			rt[name] = osquery.ExtensionPluginResponse{}
		}
		reg["config"] = rt
	}
	if len(s.loggers) > 0 {
		rt := osquery.ExtensionRouteTable{}
		for name := range s.loggers {
			rt[name] = osquery.ExtensionPluginResponse{}
		}
		reg["logger"] = rt
	}
	return reg
}

func (t *Table) routes() osquery.ExtensionPluginResponse {
	out := make(osquery.ExtensionPluginResponse, 0, len(t.Columns))
	for _, c := range t.Columns {
		typ := c.Type
		if typ == "" {
			typ = Text
		}
		out = append(out, map[string]string{"id": "column", "name": c.Name, "type": string(typ), "op": strconv.Itoa(int(c.Options))})
	}
	return out
}

// waitForSocket waits up to the timeout for the core's socket to appear.
func (s *Server) dialCore() (*wire.Client, error) {
	deadline := time.Now().Add(s.timeout)
	for {
		c, err := wire.Dial(s.socket, s.timeout, wire.ClientLimits(0))
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("Extension socket not available: %s: %w", s.socket, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Run registers with the core, serves the extension socket and returns
// when the core goes away (nil), asks the extension to shut down (nil),
// drops it (ErrDeregistered), or Shutdown is called (nil).
func (s *Server) Run() error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("extension: Run called twice")
	}
	s.running = true
	reg := s.broadcast()
	s.mu.Unlock()

	client, err := s.dialCore()
	if err != nil {
		return err
	}
	info := &osquery.InternalExtensionInfo{Name: s.name, Version: s.version, SdkVersion: version.Osquery, MinSdkVersion: "0.0.0"}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	st, err := client.RegisterExtension(ctx, info, reg)
	cancel()
	if err != nil {
		client.Close()
		return fmt.Errorf("Extension register failed: %w", err)
	}
	if st.GetCode() != 0 {
		client.Close()
		return fmt.Errorf("Extension register failed: %s", st.GetMessage())
	}
	uuid := int64(st.GetUUID())
	path := fmt.Sprintf("%s.%d", s.socket, uuid)
	ln, err := wire.Listen(path)
	if err != nil {
		s.deregister(client, uuid)
		client.Close()
		return fmt.Errorf("extension: cannot listen on %s: %w", path, err)
	}
	srv := wire.NewServer(ln, osquery.NewExtensionProcessor(&handler{s: s}), wire.ServerOptions{
		Limits: wire.ServerLimits(0), Timeout: 10 * time.Minute, Log: s.log,
	})
	s.mu.Lock()
	s.uuid, s.client, s.srv = uuid, client, srv
	s.mu.Unlock()
	s.log.Info("extension registered", "name", s.name, "uuid", uuid, "socket", path)
	go srv.Serve()
	defer func() {
		srv.Close()
		s.mu.Lock()
		s.client.Close()
		s.mu.Unlock()
	}()
	return s.watchCore(uuid)
}

// watchCore checks every interval that the core still lists us, as
// osquery's extension watcher does.
func (s *Server) watchCore(uuid int64) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return nil
		case <-t.C:
		}
		list, err := s.extensions()
		if err != nil {
			s.log.Info("Extension watcher ending: osquery core has gone away", "err", err)
			return nil
		}
		if _, ok := list[osquery.ExtensionRouteUUID(uuid)]; !ok {
			s.log.Error("Extension not registered with osquery core")
			return ErrDeregistered
		}
	}
}

// extensions calls extensions() on the core, reconnecting once: the core
// may have closed an idle connection.
func (s *Server) extensions() (osquery.InternalExtensionList, error) {
	call := func() (osquery.InternalExtensionList, error) {
		s.mu.Lock()
		c := s.client
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		return c.Extensions(ctx)
	}
	list, err := call()
	if err == nil {
		return list, nil
	}
	if _, serr := os.Stat(s.socket); serr != nil {
		return nil, serr
	}
	c, derr := wire.Dial(s.socket, s.timeout, wire.ClientLimits(0))
	if derr != nil {
		return nil, derr
	}
	s.mu.Lock()
	s.client.Close()
	s.client = c
	s.mu.Unlock()
	return call()
}

func (s *Server) deregister(c *wire.Client, uuid int64) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	c.DeregisterExtension(ctx, uuid)
}

func (s *Server) stop() { s.doneOne.Do(func() { close(s.done) }) }

// Shutdown deregisters from the core (if registered) and makes Run return.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	c, uuid := s.client, s.uuid
	s.mu.Unlock()
	var err error
	if c != nil && uuid != 0 {
		_, err = c.DeregisterExtension(ctx, uuid)
	}
	s.stop()
	return err
}

// Query runs SQL in the core and returns its rows (all values as text).
func (s *Server) Query(ctx context.Context, sql string) ([]map[string]string, error) {
	c, err := wire.Dial(s.socket, s.timeout, wire.ClientLimits(0))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r, err := c.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	if r.GetStatus().GetCode() != 0 {
		return nil, errors.New(r.GetStatus().GetMessage())
	}
	return r.GetResponse(), nil
}

// handler serves the Extension service for the core.
type handler struct{ s *Server }

func (h *handler) Ping(context.Context) (*osquery.ExtensionStatus, error) {
	return &osquery.ExtensionStatus{Code: 0, Message: "pong", UUID: osquery.ExtensionRouteUUID(h.s.UUID())}, nil
}

func (h *handler) Shutdown(context.Context) error {
	h.s.log.Info("extension: shutdown requested by the core")
	h.s.stop()
	return nil
}

func respond(code int32, msg string, rows []map[string]string) *osquery.ExtensionResponse {
	if rows == nil {
		rows = []map[string]string{}
	}
	return &osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{Code: code, Message: msg}, Response: rows}
}

func (h *handler) Call(ctx context.Context, registry, item string, req osquery.ExtensionPluginRequest) (*osquery.ExtensionResponse, error) {
	s := h.s
	s.mu.Lock()
	t, cfg, lg := s.tables[item], s.configs[item], s.loggers[item]
	s.mu.Unlock()
	switch {
	case registry == "table" && t != nil:
		switch req["action"] {
		case "generate":
			qc, err := parseQueryContext(req["context"])
			if err != nil {
				return respond(1, "error parsing context JSON: "+err.Error(), nil), nil
			}
			rows, err := t.Generate(ctx, qc)
			if err != nil {
				return respond(1, "error generating table: "+err.Error(), nil), nil
			}
			return respond(0, "OK", rows), nil
		case "columns":
			return respond(0, "OK", t.routes()), nil
		}
		return respond(1, "Unknown table plugin action: "+req["action"], nil), nil
	case registry == "config" && cfg != nil:
		switch req["action"] {
		case "genConfig":
			src, err := cfg.GenConfig(ctx)
			if err != nil {
				return respond(1, err.Error(), nil), nil
			}
			return respond(0, "OK", []map[string]string{src}), nil
		case "genPack":
			if cfg.GenPack == nil {
				return respond(1, "Config plugin does not resolve packs", nil), nil
			}
			pack, err := cfg.GenPack(ctx, req["name"], req["value"])
			if err != nil {
				return respond(1, err.Error(), nil), nil
			}
			return respond(0, "OK", []map[string]string{{req["name"]: pack}}), nil
		}
		return respond(1, "Config plugin action unknown: "+req["action"], nil), nil
	case registry == "logger" && lg != nil:
		var err error
		switch {
		case req["string"] != "":
			err = lg.Log(ctx, LogResult, req["string"])
		case req["snapshot"] != "":
			err = lg.Log(ctx, LogSnapshot, req["snapshot"])
		case req["status"] == "true":
			err = lg.Log(ctx, LogStatus, req["log"])
		case req["action"] == "features":
			// Bit 1: this plugin takes status logs.
			return respond(1, "", nil), nil
		}
		if err != nil {
			return respond(1, err.Error(), nil), nil
		}
		return respond(0, "OK", nil), nil
	}
	return respond(1, fmt.Sprintf("Unknown registry plugin: %s/%s", registry, item), nil), nil
}

// parseQueryContext reads the context JSON the core sends with generate.
// Operators arrive as numbers (osquery >= 3) or strings (older).
func parseQueryContext(s string) (QueryContext, error) {
	qc := QueryContext{Constraints: map[string]ConstraintList{}}
	if s == "" {
		return qc, nil
	}
	var raw struct {
		Constraints []struct {
			Name     string          `json:"name"`
			Affinity string          `json:"affinity"`
			List     json.RawMessage `json:"list"`
		} `json:"constraints"`
		ColsUsed []string `json:"colsUsed"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return qc, err
	}
	qc.ColsUsed = raw.ColsUsed
	for _, c := range raw.Constraints {
		cl := ConstraintList{Affinity: ColumnType(c.Affinity)}
		var list []struct {
			Op   json.RawMessage `json:"op"`
			Expr string          `json:"expr"`
		}
		// An empty list may come as "" from old cores.
		if len(c.List) > 0 && c.List[0] == '[' {
			if err := json.Unmarshal(c.List, &list); err != nil {
				return qc, err
			}
		}
		for _, l := range list {
			op, err := strconv.Atoi(string(trimQuotes(l.Op)))
			if err != nil {
				return qc, fmt.Errorf("bad operator %s", l.Op)
			}
			cl.Constraints = append(cl.Constraints, Constraint{Operator: Operator(op), Expression: l.Expr})
		}
		qc.Constraints[c.Name] = cl
	}
	return qc, nil
}

func trimQuotes(b []byte) []byte {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return b[1 : len(b)-1]
	}
	return b
}
