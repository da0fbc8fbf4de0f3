package extensions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosquery/gosquery/internal/config"
	"github.com/gosquery/gosquery/internal/extensions/gen/osquery"
	"github.com/gosquery/gosquery/internal/extensions/wire"
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/logger"
	"github.com/gosquery/gosquery/internal/logging"
	"github.com/gosquery/gosquery/internal/table"
)

// addRoutes validates everything e broadcasts, then registers its tables
// and plugins; on any conflict nothing is registered. m.mu is held.
func (m *Manager) addRoutes(e *extension, reg osquery.ExtensionRegistry) error {
	regNames := make([]string, 0, len(reg))
	for r := range reg {
		regNames = append(regNames, r)
	}
	sort.Strings(regNames)
	var defs []*table.Def
	for _, r := range regNames {
		if !knownRegistries[r] {
			return fmt.Errorf("Unknown registry: %s", r)
		}
		items := make([]string, 0, len(reg[r]))
		for it := range reg[r] {
			items = append(items, it)
		}
		sort.Strings(items)
		for _, it := range items {
			if it == "" {
				return fmt.Errorf("Registry %s has an item without a name", r)
			}
			if m.itemExists(r, it) {
				return fmt.Errorf("Registry item %s conflicts with another item of the same name.", it)
			}
			if r == "table" {
				ds, err := m.tableDefs(e, it, reg[r][it])
				if err != nil {
					return err
				}
				defs = append(defs, ds...)
			}
		}
		e.plugins[r] = items
	}
	for i, d := range defs {
		if err := m.env.Tables.Add(d); err != nil {
			for _, added := range defs[:i] {
				m.env.Tables.Remove(added.Spec.Name)
			}
			return fmt.Errorf("Registry item %s conflicts with another item of the same name.", d.Spec.Name)
		}
		e.tables = append(e.tables, d.Spec.Name)
	}
	routePlugins(m, e)
	return nil
}

// itemExists reports whether a plugin of that name is already in the
// registry, from the core or a live extension.
func (m *Manager) itemExists(registry, item string) bool {
	switch registry {
	case "table":
		return m.env.Tables.Get(item) != nil
	case "config", "logger":
		return pluginExists(registry, item)
	}
	for _, o := range m.exts {
		for _, it := range o.plugins[registry] {
			if it == item {
				return true
			}
		}
	}
	return false
}

// --- extension tables ---

var columnTypes = map[string]table.Type{
	"TEXT": table.TypeText, "INTEGER": table.TypeInteger, "BIGINT": table.TypeBigInt,
	"UNSIGNED BIGINT": table.TypeUnsignedBigInt, "DOUBLE": table.TypeDouble, "BLOB": table.TypeBlob,
}

// Route info attribute bits (osquery's TableAttributes).
const (
	attrUtility   = 1
	attrCacheable = 2
	attrUserBased = 8
)

// tableDefs builds the table (and its aliases) an extension broadcasts.
func (m *Manager) tableDefs(e *extension, name string, routes osquery.ExtensionPluginResponse) ([]*table.Def, error) {
	if len(routes) == 0 {
		return nil, errors.New("Invalid route info")
	}
	spec := table.Spec{Name: name, Description: "Extension table (" + e.info.Name + ")"}
	var aliases []string
	defaultIndex := m.fl.Bool("extensions_default_index")
	for _, r := range routes {
		switch r["id"] {
		case "column":
			cname, ctype := r["name"], r["type"]
			if cname == "" || ctype == "" {
				continue
			}
			t, ok := columnTypes[strings.ToUpper(ctype)]
			if !ok {
				t = table.TypeText // osquery's UNKNOWN type has no affinity: text
			}
			op, _ := strconv.Atoi(r["op"])
			fl := table.Flag(op) & (table.Index | table.Required | table.Additional | table.Optimized | table.Hidden)
			if op == 0 && defaultIndex {
				// --extensions_default_index: constraints on every column
				// reach the extension.
				fl = table.Index
			}
			spec.Columns = append(spec.Columns, table.Column{Name: cname, Type: t, Flags: fl})
		case "alias":
			if a := r["alias"]; a != "" {
				aliases = append(aliases, a)
			}
		case "attributes":
			a, _ := strconv.Atoi(r["attributes"])
			if a&attrUtility != 0 {
				spec.Attributes |= table.Utility
			}
			if a&attrCacheable != 0 {
				spec.Attributes |= table.Cacheable
			}
			if a&attrUserBased != 0 {
				spec.Attributes |= table.UserData
			}
		}
	}
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("Invalid route info for table %s: %v", name, err)
	}
	defs := []*table.Def{m.extTableDef(e, spec, name)}
	for _, a := range aliases {
		if m.env.Tables.Get(a) != nil {
			return nil, fmt.Errorf("Registry item %s conflicts with another item of the same name.", a)
		}
		as := spec
		as.Name = a
		if err := as.Validate(); err != nil {
			return nil, fmt.Errorf("Invalid route info for table %s: %v", name, err)
		}
		defs = append(defs, m.extTableDef(e, as, name))
	}
	return defs, nil
}

// extTableDef is a table whose rows come from the extension's generate.
// item is the name the extension knows the table by (aliases share it).
func (m *Manager) extTableDef(e *extension, spec table.Spec, item string) *table.Def {
	d := &table.Def{Spec: spec, Owner: uint64(e.uuid)}
	d.Open = func(ctx context.Context, q *table.Query) table.Cursor {
		return &extCursor{ctx: ctx, m: m, e: e, item: item, spec: &d.Spec, q: q, i: -1}
	}
	return d
}

// extCursor calls generate on first use and converts the text it gets
// back to each column's type, as osquery's DynamicTableRow does.
type extCursor struct {
	ctx     context.Context
	m       *Manager
	e       *extension
	item    string
	spec    *table.Spec
	q       *table.Query
	started bool
	rows    []map[string]string
	i       int
	err     error
}

func (c *extCursor) Next() bool {
	if !c.started {
		c.started = true
		req := map[string]string{"action": "generate", "context": contextJSON(c.spec, c.q)}
		c.rows, c.err = c.m.callExtension(c.ctx, c.e, "table", c.item, req)
	}
	if c.err != nil {
		return false
	}
	c.i++
	return c.i < len(c.rows)
}

func (c *extCursor) Column(i int, w table.ValueWriter) {
	if i >= len(c.spec.Columns) {
		// A connection that attached an earlier registration of this name
		// with more columns.
		w.Null()
		return
	}
	col := &c.spec.Columns[i]
	v, ok := c.rows[c.i][col.Name]
	if !ok {
		w.Null()
		return
	}
	writeText(col.Type, v, w)
}

func (c *extCursor) Err() error { return c.err }
func (c *extCursor) Close()     { c.rows = nil }

// writeText converts an extension's text value to the column type: a
// value that does not parse (an empty string included) is NULL in numeric
// columns.
func writeText(t table.Type, v string, w table.ValueWriter) {
	switch t {
	case table.TypeInteger, table.TypeBigInt, table.TypeUnsignedBigInt:
		if n, ok := parseCInt(v); ok {
			w.Int64(n)
		} else {
			w.Null()
		}
	case table.TypeDouble:
		if f, err := strconv.ParseFloat(strings.TrimLeft(v, " \t\n\v\f\r"), 64); err == nil {
			w.Float64(f)
		} else {
			w.Null()
		}
	default:
		w.Text(v)
	}
}

// parseCInt parses an integer as strtoll with base 0 does (decimal, 0x hex,
// leading-0 octal, optional sign and leading space), requiring the whole
// string to be consumed as osquery's tryTo does.
func parseCInt(s string) (int64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	body := s
	if body != "" && (body[0] == '+' || body[0] == '-') {
		neg = body[0] == '-'
		body = body[1:]
	}
	base := 10
	switch {
	case len(body) > 2 && (body[:2] == "0x" || body[:2] == "0X"):
		base, body = 16, body[2:]
	case len(body) > 1 && body[0] == '0':
		base, body = 8, body[1:]
	}
	if body == "" || body[0] == '+' || body[0] == '-' || strings.ContainsRune(body, '_') {
		return 0, false
	}
	u, err := strconv.ParseUint(body, base, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

type ctxConstraint struct {
	Op   int    `json:"op"`
	Expr string `json:"expr"`
}

type ctxColumn struct {
	Name     string          `json:"name"`
	List     []ctxConstraint `json:"list"`
	Affinity string          `json:"affinity"`
}

type queryContext struct {
	Constraints    []ctxColumn `json:"constraints"`
	ColsUsed       []string    `json:"colsUsed"`
	ColsUsedBitset uint64      `json:"colsUsedBitset"`
}

// contextJSON serializes a Query as osquery's TablePlugin does: every
// column (sorted by name, osquery keeps them in a std::map) with its
// constraints and type, the used column names (sorted, a std::set) and
// the used-columns bitset.
func contextJSON(spec *table.Spec, q *table.Query) string {
	qc := queryContext{Constraints: make([]ctxColumn, len(spec.Columns)), ColsUsed: []string{}}
	index := make(map[string]int, len(spec.Columns))
	mask := q.UsedMask()
	for i, c := range spec.Columns {
		qc.Constraints[i] = ctxColumn{Name: c.Name, List: []ctxConstraint{}, Affinity: c.Type.String()}
		index[c.Name] = i
		if mask&(1<<min(i, 63)) != 0 {
			qc.ColsUsed = append(qc.ColsUsed, c.Name)
		}
	}
	q.Each(func(col string, c table.Constraint) {
		if i, ok := index[col]; ok {
			qc.Constraints[i].List = append(qc.Constraints[i].List, ctxConstraint{Op: int(c.Op), Expr: c.Expr})
		}
	})
	sort.Slice(qc.Constraints, func(i, j int) bool { return qc.Constraints[i].Name < qc.Constraints[j].Name })
	sort.Strings(qc.ColsUsed)
	if n := len(spec.Columns); n < 64 {
		mask &= 1<<n - 1
	}
	qc.ColsUsedBitset = mask
	b, _ := json.Marshal(qc)
	return string(b)
}

// queryFromContext is the reverse, for an extension calling a core table.
func queryFromContext(env *table.Env, spec *table.Spec, ctxJSON string) *table.Query {
	q := table.NewQuery(env, spec)
	if ctxJSON == "" {
		return q
	}
	var qc struct {
		Constraints []ctxColumn `json:"constraints"`
		ColsUsed    []string    `json:"colsUsed"`
		Bitset      *uint64     `json:"colsUsedBitset"`
	}
	if json.Unmarshal([]byte(ctxJSON), &qc) != nil {
		return q
	}
	for _, c := range qc.Constraints {
		for _, l := range c.List {
			q.AddNamed(c.Name, table.Constraint{Op: table.Op(l.Op), Expr: l.Expr})
		}
	}
	switch {
	case qc.Bitset != nil:
		q.SetUsed(*qc.Bitset)
	case qc.ColsUsed != nil:
		var mask uint64
		for _, n := range qc.ColsUsed {
			if i := spec.Column(n); i >= 0 {
				mask |= 1 << min(i, 63)
			}
		}
		q.SetUsed(mask)
	}
	return q
}

// callExtension calls a plugin of an extension and returns its rows, or
// the extension's status message as the error.
func (m *Manager) callExtension(ctx context.Context, e *extension, registry, item string, req map[string]string) ([]map[string]string, error) {
	var resp *osquery.ExtensionResponse
	err := e.pool.Do(func(c *wire.Client) (err error) {
		resp, err = c.Call(ctx, registry, item, req)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("Extension call failed: %v", err)
	}
	if st := resp.GetStatus(); st != nil && st.Code != extSuccess {
		return nil, errors.New(st.Message)
	}
	return resp.GetResponse(), nil
}

// --- logger and config plugins provided by extensions ---

// The logger and config registries are process-wide, so routes to
// extension plugins are too. A name is registered in its registry once;
// the registered plugin looks its route up on every call, so an extension
// that restarts (and gets a new uuid) serves the same name again.
var routing = struct {
	sync.Mutex
	routes     map[string]*route // "logger/name" -> live extension
	registered map[string]bool   // names registered in logger/config
}{routes: map[string]*route{}, registered: map[string]bool{}}

type route struct {
	m *Manager
	e *extension
}

func routePlugins(m *Manager, e *extension) {
	routing.Lock()
	defer routing.Unlock()
	for _, reg := range []string{"logger", "config"} {
		for _, name := range e.plugins[reg] {
			key := reg + "/" + name
			routing.routes[key] = &route{m: m, e: e}
			if routing.registered[key] {
				continue
			}
			routing.registered[key] = true
			if reg == "logger" {
				logger.Register(name, func(logger.Config) (logger.Plugin, error) { return &extLogger{name: name}, nil })
			} else {
				config.RegisterPlugin(name, func(*flags.Set) (config.Plugin, error) { return &extConfig{name: name}, nil })
			}
		}
	}
}

func unroutePlugins(e *extension) {
	routing.Lock()
	defer routing.Unlock()
	for _, reg := range []string{"logger", "config"} {
		for _, name := range e.plugins[reg] {
			key := reg + "/" + name
			if r := routing.routes[key]; r != nil && r.e == e {
				delete(routing.routes, key)
			}
		}
	}
}

func lookupRoute(registry, name string) *route {
	routing.Lock()
	defer routing.Unlock()
	return routing.routes[registry+"/"+name]
}

// isExtensionPlugin reports whether the name was registered for an
// extension (live or gone).
func isExtensionPlugin(registry, name string) bool {
	routing.Lock()
	defer routing.Unlock()
	return routing.registered[registry+"/"+name]
}

// pluginExists reports whether a config or logger plugin of that name is
// usable: a core plugin, or one a live extension provides.
func pluginExists(registry, name string) bool {
	if lookupRoute(registry, name) != nil {
		return true
	}
	if isExtensionPlugin(registry, name) {
		return false
	}
	var names []string
	if registry == "logger" {
		names = logger.Names()
	} else {
		names = configNames()
	}
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

func configNames() []string { return config.PluginNames() }

func callRoute(ctx context.Context, registry, name string, req map[string]string) ([]map[string]string, error) {
	r := lookupRoute(registry, name)
	if r == nil {
		return nil, fmt.Errorf("extension %s plugin %s is not registered", registry, name)
	}
	return r.m.callExtension(ctx, r.e, registry, name, req)
}

// extLogger forwards to an extension's logger plugin with osquery's
// request conventions.
type extLogger struct{ name string }

func (l *extLogger) Name() string { return l.name }

func (l *extLogger) LogResult(ctx context.Context, line []byte) error {
	_, err := callRoute(ctx, "logger", l.name, map[string]string{"string": string(line)})
	return err
}

func (l *extLogger) LogSnapshot(ctx context.Context, line []byte) error {
	_, err := callRoute(ctx, "logger", l.name, map[string]string{"snapshot": string(line)})
	return err
}

// statusJSON is one status in osquery's intermediate encoding.
type statusJSON struct {
	S int    `json:"s"`
	F string `json:"f"`
	I int    `json:"i"`
	M string `json:"m"`
	H string `json:"h"`
	C string `json:"c"`
	U int64  `json:"u"`
}

func (l *extLogger) LogStatus(ctx context.Context, statuses []logging.Status) error {
	hostname, _ := os.Hostname()
	out := make([]statusJSON, len(statuses))
	for i, s := range statuses {
		out[i] = statusJSON{S: int(s.Severity), F: s.File, I: s.Line, M: s.Message, H: hostname, C: logger.CalendarTime(s.Time), U: s.Time.Unix()}
	}
	b, _ := json.Marshal(out)
	_, err := callRoute(ctx, "logger", l.name, map[string]string{"status": "true", "log": string(b)})
	return err
}

func (l *extLogger) Close() error { return nil }

// extConfig forwards to an extension's config plugin.
type extConfig struct{ name string }

func (c *extConfig) Name() string { return c.name }

func (c *extConfig) Gen(ctx context.Context) (map[string][]byte, error) {
	rows, err := callRoute(ctx, "config", c.name, map[string]string{"action": "genConfig"})
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, r := range rows {
		for k, v := range r {
			out[k] = []byte(v)
		}
	}
	return out, nil
}

func (c *extConfig) GenPack(ctx context.Context, name, value string) ([]byte, error) {
	rows, err := callRoute(ctx, "config", c.name, map[string]string{"action": "genPack", "name": name, "value": value})
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if v, ok := r[name]; ok {
			return []byte(v), nil
		}
	}
	return nil, fmt.Errorf("config plugin %s returned no pack %s", c.name, name)
}

// --- call() on the core ---

// Call implements call(registry, item, request): a plugin an extension
// owns is forwarded to it; the core's own tables, config and logger
// plugins answer here. An unknown config or logger item means the active
// plugin, as osquery resolves it.
func (m *Manager) Call(ctx context.Context, registry, item string, req osquery.ExtensionPluginRequest) (*osquery.ExtensionResponse, error) {
	if !knownRegistries[registry] {
		return failed("Unknown registry: " + registry), nil
	}
	var rows []map[string]string
	var err error
	switch registry {
	case "table":
		rows, err = m.callTable(ctx, item, req)
	case "config":
		if !pluginExists("config", item) {
			item = m.fl.Get("config_plugin")
		}
		if lookupRoute("config", item) != nil {
			rows, err = callRoute(ctx, "config", item, req)
		} else {
			rows, err = m.callConfig(ctx, item, req)
		}
	case "logger":
		if lookupRoute("logger", item) != nil {
			rows, err = callRoute(ctx, "logger", item, req)
		} else {
			err = m.callLogger(ctx, req)
		}
	default:
		m.mu.Lock()
		var owner *extension
		for _, e := range m.exts {
			for _, it := range e.plugins[registry] {
				if it == item {
					owner = e
				}
			}
		}
		m.mu.Unlock()
		if owner == nil {
			return failed(fmt.Sprintf("Cannot call registry item: %s/%s", registry, item)), nil
		}
		rows, err = m.callExtension(ctx, owner, registry, item, req)
	}
	if err != nil {
		return failed(err.Error()), nil
	}
	return succeeded(rows), nil
}

func (m *Manager) callTable(ctx context.Context, name string, req map[string]string) ([]map[string]string, error) {
	def := m.env.Tables.Get(name)
	if def == nil {
		return nil, fmt.Errorf("Cannot call registry item: table/%s", name)
	}
	if def.Owner != 0 {
		m.mu.Lock()
		e := m.exts[int64(def.Owner)]
		m.mu.Unlock()
		if e == nil {
			return nil, fmt.Errorf("Cannot call registry item: table/%s", name)
		}
		return m.callExtension(ctx, e, "table", name, req)
	}
	switch req["action"] {
	case "columns":
		var out []map[string]string
		for _, c := range def.Spec.Columns {
			out = append(out, map[string]string{"id": "column", "name": c.Name, "type": c.Type.String(), "op": strconv.Itoa(int(c.Flags))})
		}
		return out, nil
	case "generate":
		q := queryFromContext(m.env, &def.Spec, req["context"])
		cur := def.Open(ctx, q)
		defer cur.Close()
		var out []map[string]string
		var w textWriter
		for cur.Next() {
			row := make(map[string]string, len(def.Spec.Columns))
			for i, c := range def.Spec.Columns {
				if q.UsedMask()&(1<<min(i, 63)) == 0 {
					continue
				}
				cur.Column(i, &w)
				row[c.Name] = w.s
			}
			out = append(out, row)
		}
		return out, cur.Err()
	case "":
		return nil, errors.New("Table plugins must include a request action")
	}
	return nil, errors.New("Unknown table plugin action: " + req["action"])
}

// textWriter renders a value as osquery's rows carry it.
type textWriter struct{ s string }

func (w *textWriter) Null()             { w.s = "" }
func (w *textWriter) Int64(v int64)     { w.s = strconv.FormatInt(v, 10) }
func (w *textWriter) Float64(v float64) { w.s = strconv.FormatFloat(v, 'g', -1, 64) }
func (w *textWriter) Text(v string)     { w.s = v }
func (w *textWriter) Blob(v []byte)     { w.s = string(v) }

func (m *Manager) callConfig(ctx context.Context, name string, req map[string]string) ([]map[string]string, error) {
	p, err := config.NewPlugin(name, m.fl)
	if err != nil {
		return nil, err
	}
	switch req["action"] {
	case "genConfig":
		sources, err := p.Gen(ctx)
		if err != nil {
			return nil, err
		}
		row := map[string]string{}
		for k, v := range sources {
			row[k] = string(v)
		}
		return []map[string]string{row}, nil
	case "genPack":
		b, err := p.GenPack(ctx, req["name"], req["value"])
		if err != nil {
			return nil, err
		}
		return []map[string]string{{req["name"]: string(b)}}, nil
	}
	return nil, errors.New("Config plugin action unknown: " + req["action"])
}

// callLogger hands an extension's log request to the daemon's logger.
func (m *Manager) callLogger(ctx context.Context, req map[string]string) error {
	box := m.logger.Load()
	if box == nil || box.p == nil {
		return errors.New("No logger plugin is active")
	}
	p := box.p
	switch {
	case req["string"] != "":
		return p.LogResult(ctx, []byte(req["string"]))
	case req["snapshot"] != "":
		return p.LogSnapshot(ctx, []byte(req["snapshot"]))
	case req["status"] == "true":
		var in []statusJSON
		if err := json.Unmarshal([]byte(req["log"]), &in); err != nil {
			return fmt.Errorf("Cannot parse status log: %v", err)
		}
		out := make([]logging.Status, len(in))
		for i, s := range in {
			out[i] = logging.Status{Severity: logging.Severity(s.S), File: s.F, Line: s.I, Message: s.M, Time: time.Unix(s.U, 0)}
		}
		return p.LogStatus(ctx, out)
	case req["action"] == "features", req["init"] != "", req["event"] != "":
		return nil
	}
	return errors.New("Unsupported logger request")
}
