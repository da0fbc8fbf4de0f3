package logger

import (
	"slices"
	"strings"
	"time"

	"github.com/gosquery/gosquery/internal/jsonw"
)

// Decoration is one decorator result (name and value).
type Decoration struct {
	Name, Value string
}

// Envelope holds the fields every result line carries (osquery's
// QueryLogItem without its rows), in the order osquery emits them.
type Envelope struct {
	// Name is the scheduled query name (pack_<pack>_<query> for packs).
	Name string
	// HostIdentifier is per --host_identifier.
	HostIdentifier string
	// CalendarTime is CalendarTime(now); UnixTime is the same instant in
	// seconds (osquery reads the clock twice; callers may do it once).
	CalendarTime string
	UnixTime     uint64
	// Epoch is --schedule_epoch.
	Epoch uint64
	// Counter is the differential counter (0 for a full result set, and
	// always 0 for snapshots).
	Counter uint64
	// Numerics is --logger_numerics: INTEGER and REAL cells as JSON numbers.
	Numerics bool
	// Decorations are logged sorted by name (osquery keeps them in a
	// std::map; a repeated name keeps its last value). None: no
	// "decorations" key at all.
	Decorations []Decoration
	// DecorationsTopLevel is --decorations_top_level: decorations become
	// top-level keys, replacing a reserved key of the same name.
	DecorationsTopLevel bool
	// NullValue is --nullvalue, what a NULL cell is logged as.
	NullValue string
}

// Diff is a differential result: rows gone since the last run and new rows.
type Diff struct {
	Removed, Added []Row
}

// CalendarTime renders t as osquery's calendarTime: C asctime of the UTC
// time with the trailing newline trimmed, plus " UTC", e.g.
// "Mon Jan  6 12:34:56 2025 UTC" (the day is space-padded).
func CalendarTime(t time.Time) string {
	return t.UTC().Format("Mon Jan _2 15:04:05 2006") + " UTC"
}

// member is one key of a JSON object under construction, its value already
// rendered.
type member struct {
	key string
	val []byte
}

// object models a RapidJSON object as osquery fills it through its JSON
// helpers: add replaces an existing key with RapidJSON's RemoveMember,
// which moves the last member into the freed slot, then appends. That
// reordering is visible when --decorations_top_level decorations reuse a
// reserved key.
type object []member

func (o *object) add(key string, val []byte) {
	for i, m := range *o {
		if m.key == key {
			last := len(*o) - 1
			(*o)[i] = (*o)[last]
			*o = (*o)[:last]
			break
		}
	}
	*o = append(*o, member{key, val})
}

func (o object) has(key string) bool {
	for _, m := range o {
		if m.key == key {
			return true
		}
	}
	return false
}

// appendMembers appends `"k":v,...` without braces.
func (o object) appendMembers(dst []byte) []byte {
	for i, m := range o {
		dst = jsonw.AppendKey(dst, m.key, i == 0)
		dst = append(dst, m.val...)
	}
	return dst
}

func (o object) appendTo(dst []byte) []byte {
	dst = append(dst, '{')
	dst = o.appendMembers(dst)
	return append(dst, '}')
}

// formatter carries the per-call state of one formatting run: the envelope
// members rendered once, and the column layout of the last row, which the
// next rows of the same query reuse.
type formatter struct {
	env    *Envelope
	arena  []byte
	fields object
	layout rowLayout
}

// rowLayout is a row's column names as given, the order to write them in,
// and each key rendered as `"name":` (with its leading comma after the
// first), so rows with the same columns are neither sorted nor have their
// keys escaped again.
type rowLayout struct {
	names []string
	order []int
	keys  [][]byte
}

func (l *rowLayout) matches(r Row) bool {
	if len(l.names) != len(r) || l.names == nil {
		return false
	}
	for i := range r {
		if r[i].Name != l.names[i] {
			return false
		}
	}
	return true
}

func (l *rowLayout) set(r Row) {
	l.names = l.names[:0]
	for _, c := range r {
		l.names = append(l.names, c.Name)
	}
	if l.names == nil {
		l.names = []string{}
	}
	l.order = r.order(l.order)
	l.keys = l.keys[:0]
	for i, idx := range l.order {
		l.keys = append(l.keys, jsonw.AppendKey(nil, r[idx].Name, i == 0))
	}
}

func newFormatter(env *Envelope) *formatter {
	f := &formatter{env: env}
	f.fields = f.envelope(make(object, 0, 8+len(env.Decorations)))
	return f
}

// value renders into the arena and returns the rendered bytes.
func (f *formatter) value(render func([]byte) []byte) []byte {
	start := len(f.arena)
	f.arena = render(f.arena)
	return f.arena[start:len(f.arena):len(f.arena)]
}

func (f *formatter) str(s string) []byte {
	return f.value(func(b []byte) []byte { return jsonw.AppendString(b, s) })
}

func (f *formatter) uint(v uint64) []byte {
	return f.value(func(b []byte) []byte { return jsonw.AppendUint(b, v) })
}

// envelope adds osquery's "legacy fields" and decorations to o
// (addLegacyFieldsAndDecorations in osquery/core/query.cpp).
func (f *formatter) envelope(o object) object {
	e := f.env
	o.add("name", f.str(e.Name))
	o.add("hostIdentifier", f.str(e.HostIdentifier))
	o.add("calendarTime", f.str(e.CalendarTime))
	o.add("unixTime", f.uint(e.UnixTime))
	o.add("epoch", f.uint(e.Epoch))
	o.add("counter", f.uint(e.Counter))
	o.add("numerics", f.value(func(b []byte) []byte { return jsonw.AppendBool(b, e.Numerics) }))
	decs := sortedDecorations(e.Decorations)
	if len(decs) == 0 {
		return o
	}
	if e.DecorationsTopLevel {
		for _, d := range decs {
			o.add(d.Name, f.str(d.Value))
		}
		return o
	}
	o.add("decorations", f.value(func(b []byte) []byte { return appendDecorations(b, decs) }))
	return o
}

// appendDecorations appends sorted decorations as a JSON object.
func appendDecorations(b []byte, decs []Decoration) []byte {
	b = append(b, '{')
	for i, d := range decs {
		b = jsonw.AppendKey(b, d.Name, i == 0)
		b = jsonw.AppendString(b, d.Value)
	}
	return append(b, '}')
}

// sortedDecorations returns the decorations sorted by name, the last value
// of a repeated name winning, as std::map insertion leaves them.
func sortedDecorations(in []Decoration) []Decoration {
	if len(in) == 0 {
		return nil
	}
	sorted := true
	for i := 1; i < len(in); i++ {
		if in[i-1].Name >= in[i].Name {
			sorted = false
			break
		}
	}
	if sorted {
		return in
	}
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b Decoration) int { return strings.Compare(a.Name, b.Name) })
	dedup := out[:0]
	for i, d := range out {
		if i+1 < len(out) && out[i+1].Name == d.Name {
			continue
		}
		dedup = append(dedup, d)
	}
	return dedup
}

// appendRow appends a row as a JSON object with sorted keys. escape applies
// EscapeNonPrintable to TEXT/BLOB cells, as osquery does for differential
// results (not for snapshots).
func (f *formatter) appendRow(dst []byte, r Row, escape bool) []byte {
	if !f.layout.matches(r) {
		f.layout.set(r)
	}
	dst = append(dst, '{')
	for i, idx := range f.layout.order {
		dst = append(dst, f.layout.keys[i]...)
		dst = f.appendValue(dst, &r[idx].Value, escape)
	}
	return append(dst, '}')
}

func (f *formatter) appendValue(dst []byte, v *Value, escape bool) []byte {
	numerics := f.env.Numerics
	switch v.Kind {
	case KindInteger:
		if numerics {
			return jsonw.AppendInt(dst, v.Int)
		}
		dst = append(dst, '"')
		dst = jsonw.AppendInt(dst, v.Int)
		return append(dst, '"')
	case KindReal:
		// RapidJSON cannot write NaN or infinities (osquery's line is
		// then cut short); they stay strings here so the line is JSON.
		if numerics && v.Real-v.Real == 0 {
			return jsonw.AppendDouble(dst, v.Real)
		}
		dst = append(dst, '"')
		dst = appendReal(dst, v.Real)
		return append(dst, '"')
	case KindText, KindBlob:
		return f.appendString(dst, v.Str, escape)
	}
	return f.appendString(dst, f.env.NullValue, escape)
}

func (f *formatter) appendString(dst []byte, s string, escape bool) []byte {
	if escape {
		return appendEscapedJSON(dst, s)
	}
	return jsonw.AppendString(dst, s)
}

func (f *formatter) appendRows(dst []byte, rows []Row, escape bool) []byte {
	dst = append(dst, '[')
	for i, r := range rows {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = f.appendRow(dst, r, escape)
	}
	return append(dst, ']')
}

// eventLines emits one line per row: envelope, "columns", "action"
// (serializeQueryLogItemAsEvents). The line passed to emit is reused.
func (f *formatter) eventLines(sets []eventSet, emit func([]byte) error) error {
	var line []byte
	fast := !f.fields.has("columns") && !f.fields.has("action")
	var prefix []byte
	if fast {
		prefix = append([]byte{'{'}, f.fields.appendMembers(nil)...)
	}
	for _, set := range sets {
		for _, r := range set.rows {
			if fast {
				line = append(line[:0], prefix...)
				line = append(line, `,"columns":`...)
				line = f.appendRow(line, r, set.escape)
				line = append(line, `,"action":`...)
				line = jsonw.AppendString(line, set.action)
				line = append(line, '}')
			} else {
				// A top-level decoration named "columns" or "action" is
				// replaced, reordering the object as RapidJSON does.
				o := slices.Clone(f.fields)
				o.add("columns", f.appendRow(nil, r, set.escape))
				o.add("action", jsonw.AppendString(nil, set.action))
				line = o.appendTo(line[:0])
			}
			if err := emit(line); err != nil {
				return err
			}
		}
	}
	return nil
}

type eventSet struct {
	action string
	rows   []Row
	escape bool
}

// EventLines formats a differential result in osquery's default event
// format (--logger_event_type=true): one line per row, removed rows first,
// each `{<envelope>,"columns":{<row>},"action":"removed"|"added"}`. TEXT and
// BLOB cells are escaped with EscapeNonPrintable. An empty diff emits
// nothing. emit receives each line without a newline; the slice is reused
// for the next line, so emit must copy what it keeps. An emit error stops
// the run and is returned.
func EventLines(env *Envelope, d Diff, emit func(line []byte) error) error {
	f := newFormatter(env)
	return f.eventLines([]eventSet{{"removed", d.Removed, true}, {"added", d.Added, true}}, emit)
}

// AppendBatch appends a differential result in osquery's batch format
// (--logger_event_type=false), one line without newline:
// `{"diffResults":{"removed":[...],"added":[...]},<envelope>}`. Both arrays
// are present when either has rows. A diff with no rows at all comes out,
// as in osquery's serializeQueryLogItem, as an empty snapshot line (the
// scheduler never logs one).
func AppendBatch(dst []byte, env *Envelope, d Diff) []byte {
	if len(d.Added) == 0 && len(d.Removed) == 0 {
		return AppendSnapshot(dst, env, nil)
	}
	f := &formatter{env: env}
	diff := func(b []byte) []byte {
		b = append(b, `{"removed":`...)
		b = f.appendRows(b, d.Removed, true)
		b = append(b, `,"added":`...)
		b = f.appendRows(b, d.Added, true)
		return append(b, '}')
	}
	fields := f.envelope(nil)
	if !fields.has("diffResults") {
		// Nothing displaces "diffResults": write it straight into dst.
		dst = append(dst, `{"diffResults":`...)
		dst = diff(dst)
		dst = append(dst, ',')
		dst = fields.appendMembers(dst)
		return append(dst, '}')
	}
	o := f.envelope(object{{"diffResults", diff(nil)}})
	return o.appendTo(dst)
}

// AppendSnapshot appends a snapshot result in osquery's default snapshot
// format (--logger_snapshot_event_type=false), one line without newline:
// `{"snapshot":[...],"action":"snapshot",<envelope>}`; an empty result is
// still a line. Snapshot cells are not escaped: osquery's scheduler hands
// snapshot rows to the logger before escapeResults.
func AppendSnapshot(dst []byte, env *Envelope, rows []Row) []byte {
	f := &formatter{env: env}
	fields := f.envelope(nil)
	if !fields.has("snapshot") && !fields.has("action") {
		dst = append(dst, `{"snapshot":`...)
		dst = f.appendRows(dst, rows, false)
		dst = append(dst, `,"action":"snapshot",`...)
		dst = fields.appendMembers(dst)
		return append(dst, '}')
	}
	o := f.envelope(object{
		{"snapshot", f.appendRows(nil, rows, false)},
		{"action", []byte(`"snapshot"`)},
	})
	return o.appendTo(dst)
}

// SnapshotEventLines formats a snapshot result as events
// (--logger_snapshot_event_type=true): one line per row,
// `{<envelope>,"columns":{<row>},"action":"snapshot"}`, cells unescaped as
// in AppendSnapshot. An empty result emits nothing. emit's slice is reused.
func SnapshotEventLines(env *Envelope, rows []Row, emit func(line []byte) error) error {
	f := newFormatter(env)
	return f.eventLines([]eventSet{{"snapshot", rows, false}}, emit)
}

// AppendRow appends one row as osquery logs it inside "columns" or a
// result array: keys sorted, values per env.Numerics and env.NullValue,
// TEXT/BLOB escaped when escape is set (differential results).
func AppendRow(dst []byte, env *Envelope, r Row, escape bool) []byte {
	f := &formatter{env: env}
	return f.appendRow(dst, r, escape)
}
