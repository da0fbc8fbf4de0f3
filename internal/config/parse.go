package config

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/version"
)

// DefaultMaxSize is the largest source accepted after comment stripping
// (osquery HEAD; 5.23 and earlier used 1 MiB).
const DefaultMaxSize = 4 * 1024 * 1024

// Warning is one message osquery would log while loading a config. Level
// says how osquery logs it: slog.LevelWarn for a WARNING, slog.LevelError
// for an ERROR, slog.LevelDebug for what osquery logs only with --verbose
// (VLOG) or not at all, where gosquery adds a note so a silently ignored
// entry can still be explained.
type Warning struct {
	Level   slog.Level
	Source  string
	Message string
}

func (w Warning) String() string { return w.Message }

// Error is a config that cannot be loaded. Error() is osquery's message
// (what --config_check prints after "Error reading config: ").
type Error struct {
	Source string
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// ParseOptions carries what parsing depends on besides the sources. The
// zero value is not osquery's default; start from DefaultParseOptions or
// OptionsFromFlags.
type ParseOptions struct {
	// SetOption applies one "options" entry; a returned error becomes a
	// WARNING with the error's text. nil records options without applying
	// them (Config.Options still lists them).
	SetOption func(name, value string) error
	// GenPack resolves a pack given as a string (Plugin.GenPack bound to a
	// context); nil means string packs cannot be resolved.
	GenPack func(name, value string) ([]byte, error)
	// Hostname decides the host shard; "" means os.Hostname().
	Hostname string
	// DefaultInterval is schedule_default_interval, for queries without
	// an interval. A config's own options may change it for the sources
	// that follow, as in osquery.
	DefaultInterval uint64
	// PackDelimiter is pack_delimiter. The value in force after the
	// config's options are applied names the queries, as in osquery.
	PackDelimiter string
	// Version is the running osquery version packs compare against; ""
	// means version.Osquery.
	Version string
	// MaxSize limits each stripped source; 0 means DefaultMaxSize.
	MaxSize int
}

// DefaultParseOptions returns osquery's defaults (no option callback, no
// pack resolver).
func DefaultParseOptions() ParseOptions {
	return ParseOptions{DefaultInterval: 3600, PackDelimiter: "_"}
}

// OptionsFromFlags returns ParseOptions reading the flags the config
// depends on and applying "options" to fs. Unknown and CLI-only names are
// refused with osquery's own warning texts; a value the flag's type
// rejects is refused with the flag package's message (osquery ignores it
// silently).
func OptionsFromFlags(fs *flags.Set) ParseOptions {
	def, _ := strconv.ParseUint(strings.TrimSpace(fs.Get("schedule_default_interval")), 10, 64)
	return ParseOptions{
		SetOption:       fs.SetOption,
		DefaultInterval: def,
		PackDelimiter:   fs.Get("pack_delimiter"),
	}
}

// Source is one config source as it was read.
type Source struct {
	Name string
	// Raw is the text before comment stripping (what --config_dump shows).
	Raw []byte
	// SHA1 is the hex SHA-1 of Raw; osquery skips reparsing a source
	// whose hash did not change.
	SHA1 string
}

// Option is one merged "options" entry, converted to text as osquery does.
type Option struct {
	Name  string
	Value string
}

// DecoratorSet holds the decorator queries of one source (a pack's
// decorators have the source "<source><delimiter><pack>").
type DecoratorSet struct {
	Source string
	Load   []string
	Always []string
	// Interval maps seconds (multiples of 60) to queries.
	Interval []IntervalDecorators
}

// IntervalDecorators are the queries run when unix time % Seconds == 0.
type IntervalDecorators struct {
	Seconds uint64
	Queries []string
}

// Events is the "events" key: subscriber names to enable or disable.
type Events struct {
	EnableSubscribers  []string
	DisableSubscribers []string
	// Raw is the whole value, serialized (it may hold other keys, such as
	// enable_publishers, which osquery ignores).
	Raw string
}

// View is one "views" entry, to be created as a SQLite view.
type View struct {
	Name string
	SQL  string
}

// RawValue is a tolerated key's value from one source, serialized.
type RawValue struct {
	Source string
	JSON   string
}

// Config is a parsed configuration.
type Config struct {
	// Sources in the order they were applied (sorted by name).
	Sources []Source
	// Hash is osquery's config_hash: the hex SHA-1 of the concatenated
	// hex SHA-1s of the sources in name order.
	Hash string
	// Options is every "options" entry after merging (a later source's key
	// replaces an earlier one and moves last), converted to text, empty
	// values left out; entries SetOption refused are listed too.
	Options []Option
	// Packs in load order; "main" is the schedule.
	Packs []*Pack
	// Decorators per source, sorted by source.
	Decorators []DecoratorSet
	// Events from the last source that had the key.
	Events Events
	// Views from the last source that had the key.
	Views []View
	// Extra holds the keys osquery parses for features gosquery does not
	// act on (file_paths, yara, ...), per source, in load order.
	Extra map[string][]RawValue
	// PackDelimiter is the delimiter that named the pack queries.
	PackDelimiter string
	// HostShard is this host's shard (0..100).
	HostShard uint64
}

// ScheduledQueries returns the queries of every valid pack, pack by pack in
// load order. Whether a pack runs also depends on discovery
// (Pack.CheckDiscovery); the scheduler decides that.
func (c *Config) ScheduledQueries() []*Query {
	var out []*Query
	for _, p := range c.Packs {
		if p.Valid {
			out = append(out, p.Queries...)
		}
	}
	return out
}

// Pack returns the first pack called name.
func (c *Config) Pack(name string) *Pack {
	for _, p := range c.Packs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Option returns the merged value of one option.
func (c *Config) Option(name string) (string, bool) {
	for _, o := range c.Options {
		if o.Name == name {
			return o.Value, true
		}
	}
	return "", false
}

// parserKeys are the top-level keys osquery's config parsers claim, in the
// order the parsers run (options first, then by parser name), with the
// parser each belongs to.
var parserKeys = []struct{ parser, key string }{
	{"options", "options"},
	{"auto_constructed_tables", "auto_table_construction"},
	{"decorators", "decorators"},
	{"events", "events"},
	{"feature_vectors", "feature_vectors"},
	{"file_paths", "file_paths"},
	{"file_paths", "file_paths_query"},
	{"file_paths", "file_accesses"},
	{"file_paths", "exclude_paths"},
	{"kafka_topics", "kafka_topics"},
	{"logger", "logger"},
	{"prometheus_targets", "prometheus_targets"},
	{"views", "views"},
	{"yara", "yara"},
}

// knownTopLevel is every top-level key osquery reads on Linux.
var knownTopLevel = func() map[string]bool {
	m := map[string]bool{"schedule": true, "packs": true}
	for _, k := range parserKeys {
		m[k.key] = true
	}
	return m
}()

// parser holds the state of one Parse.
type parser struct {
	opts            ParseOptions
	shard           uint64
	version         string
	defaultInterval uint64
	delim           string
	warns           []Warning

	packs       []*Pack // nil where a later pack replaced one
	packIndex   map[packID]int
	options     []mergedOption
	optionIndex map[string]int
	decorators  map[string]*DecoratorSet
	events      jsonNode
	views       jsonNode
	hasViews    bool
	extra       map[string][]RawValue
}

type mergedOption struct {
	name    string
	val     jsonNode
	dropped bool // replaced by a later value of the same name
}

type packID struct{ name, source string }

func (ps *parser) add(level slog.Level, source, format string, args ...any) {
	ps.warns = append(ps.warns, Warning{Level: level, Source: source, Message: fmt.Sprintf(format, args...)})
}

func (ps *parser) warn(source, format string, args ...any) {
	ps.add(slog.LevelWarn, source, format, args...)
}

func (ps *parser) debug(source, format string, args ...any) {
	ps.add(slog.LevelDebug, source, format, args...)
}

// Parse builds a Config from sources as osquery's Config::update does. The
// sources are applied sorted by name. Every source is validated first
// (comment stripping, size, JSON syntax, nesting depth, object root); the
// first failure is returned as an *Error and no option is applied. Entries
// osquery skips with a warning are skipped the same way and reported in the
// returned warnings; nothing in a source's content makes Parse fail other
// than those checks.
func Parse(sources map[string][]byte, opts ParseOptions) (*Config, []Warning, error) {
	ps := &parser{
		opts:            opts,
		version:         opts.Version,
		defaultInterval: opts.DefaultInterval,
		delim:           opts.PackDelimiter,
		decorators:      map[string]*DecoratorSet{},
		packIndex:       map[packID]int{},
		optionIndex:     map[string]int{},
		extra:           map[string][]RawValue{},
	}
	if ps.version == "" {
		ps.version = version.Osquery
	}
	host := opts.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	ps.shard = MachineShard(host)
	maxSize := opts.MaxSize
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}

	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)

	cfg := &Config{HostShard: ps.shard}
	roots := make([]jsonObj, len(names))
	for i, name := range names {
		raw := sources[name]
		sum := sha1.Sum(raw)
		cfg.Sources = append(cfg.Sources, Source{Name: name, Raw: raw, SHA1: hex.EncodeToString(sum[:])})
		root, err := validateSource(StripComments(raw), maxSize)
		if err != nil {
			ps.add(slog.LevelError, name, "updateSource failed to parse config, of source: %s and content: %s", name, excerpt(raw))
			return nil, ps.warns, &Error{Source: name, Msg: err.Error()}
		}
		roots[i] = root
	}
	var all strings.Builder
	for _, s := range cfg.Sources {
		all.WriteString(s.SHA1)
	}
	sum := sha1.Sum([]byte(all.String()))
	cfg.Hash = hex.EncodeToString(sum[:])

	for i, name := range names {
		ps.applySource(name, roots[i])
	}
	ps.finish(cfg)
	return cfg, ps.warns, nil
}

// excerpt bounds the config text quoted in an error line (osquery quotes
// it whole).
func excerpt(raw []byte) string {
	const max = 1024
	if len(raw) <= max {
		return string(raw)
	}
	return string(raw[:max]) + "..."
}

// validateSource applies osquery's checks to one stripped source and
// returns its root members.
func validateSource(stripped []byte, maxSize int) (jsonObj, error) {
	if len(stripped) > maxSize {
		return nil, fmt.Errorf("Error parsing the config JSON: the config size exceeds the limit of %d bytes", maxSize)
	}
	doc, err := parseJSON(stripped)
	if err != nil || doc.root.kind() != jsonObject {
		return nil, errors.New("Error parsing the config JSON")
	}
	if doc.maxLevel >= jsonMaxDepth {
		return nil, errors.New("Error validating the config JSON: Configuration has too many nesting levels!")
	}
	return doc.root.members(), nil
}

// applySource is osquery's updateSource after validation: the schedule
// becomes pack "main", then "packs", then the parsers.
func (ps *parser) applySource(source string, root jsonObj) {
	if v, ok := root.get("schedule"); ok {
		if v.kind() == jsonObject {
			main := jsonNode(`{"queries":` + string(v) + `}`)
			ps.addPack("main", source, main.members())
		} else if v.kind() != jsonNull {
			ps.debug(source, "Config schedule should be an object; ignored")
		}
	}
	if v, ok := root.get("packs"); ok {
		if v.kind() == jsonObject {
			for _, m := range v.members() {
				name := cString(m.key)
				switch m.val.kind() {
				case jsonObject:
					ps.addPack(name, source, m.val.members())
				case jsonString:
					ps.genPack(name, source, m.val.cstr())
				default:
					ps.debug(source, "Pack %s should be an object or a resource string; ignored", name)
				}
			}
		} else if v.kind() != jsonNull {
			ps.debug(source, "Config packs should be an object; ignored")
		}
	}
	ps.applyParsers(source, root)
	for _, m := range root {
		if !knownTopLevel[m.key] {
			ps.debug(source, "Unknown top-level config key ignored: %s", m.key)
		}
	}
}

// genPack resolves a string pack through the config plugin.
func (ps *parser) genPack(name, source, value string) {
	var data []byte
	var err error
	if ps.opts.GenPack != nil {
		data, err = ps.opts.GenPack(name, value)
	} else {
		err = errors.New("the config plugin does not resolve packs")
	}
	if name == "*" && data != nil && err != nil {
		for _, e := range unjoin(err) {
			ps.warn(source, "%s", e.Error())
		}
		err = nil
	}
	if len(data) == 0 {
		ps.warn(source, "Error reading the query pack named: %s", name)
		if err != nil {
			ps.debug(source, "Pack %s (%s): %v", name, value, err)
		}
		return
	}
	doc, perr := parseJSON(StripComments(data))
	if perr != nil || doc.root.kind() != jsonObject {
		ps.warn(source, "Error parsing the \"%s\" pack JSON", name)
		return
	}
	members := doc.root.members()
	if name == "*" && len(members) == 0 {
		ps.debug(source, "No pack file matches %s", value)
	}
	ps.addPack(name, source, members)
}

// unjoin splits an errors.Join result into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// addPack is osquery's Config::addPack, including the "*" multi-pack form.
func (ps *parser) addPack(name, source string, obj jsonObj) {
	if name != "*" {
		ps.addSinglePack(name, source, obj)
		return
	}
	for _, m := range obj {
		pname := cString(m.key)
		if m.val.kind() != jsonObject {
			ps.warn(source, "Error parsing pack: %s: the value should be an object", pname)
			continue
		}
		ps.addSinglePack(pname, source, m.val.members())
	}
}

func (ps *parser) addSinglePack(name, source string, obj jsonObj) {
	pk, err := ps.buildPack(name, source, obj)
	if err != nil {
		ps.warn(source, "Error adding pack: %s: %v", name, err)
		return
	}
	// A pack replaces the one of the same name from the same source (and
	// moves last). The old slot is left nil and compacted in finish, so a
	// config of many packs stays linear.
	id := packID{name, source}
	if i, ok := ps.packIndex[id]; ok {
		ps.packs[i] = nil
	}
	ps.packIndex[id] = len(ps.packs)
	ps.packs = append(ps.packs, pk)
	// osquery applies the parsers to a pack that would execute (it also
	// runs discovery here; gosquery leaves discovery to the scheduler).
	if pk.Valid {
		ps.applyParsers(source+ps.delim+name, obj)
	}
}

// applyParsers runs each config parser over the keys it claims.
func (ps *parser) applyParsers(source string, obj jsonObj) {
	for _, pk := range parserKeys {
		v, ok := obj.get(pk.key)
		if ok && v.kind() == jsonNull {
			ok = false
		}
		if ok && !v.isContainer() {
			ps.warn(source, "Error config %s should be an array or object", pk.key)
			ok = false
		}
		switch pk.parser {
		case "options":
			ps.parseOptions(source, v, ok)
		case "decorators":
			ps.parseDecorators(source, v, ok)
		case "events":
			if ok {
				if v.kind() != jsonObject {
					ps.debug(source, "Config events should be an object; no subscriber is enabled or disabled by it")
				}
				ps.events = v
			}
		case "views":
			if ok {
				ps.views, ps.hasViews = v, true
			}
		default:
			if ok {
				ps.extra[pk.key] = append(ps.extra[pk.key], RawValue{Source: source, JSON: v.compact(false)})
			}
		}
	}
}

// parseOptions is osquery's options parser: the options seen so far are
// merged (a repeated key replaces the earlier value and moves last) and
// all of them are applied again, so a warning about one option repeats for
// every later source that has "options".
func (ps *parser) parseOptions(source string, v jsonNode, ok bool) {
	if !ok {
		return
	}
	if v.kind() == jsonObject {
		for _, m := range v.members() {
			if i, ok := ps.optionIndex[m.key]; ok {
				ps.options[i].dropped = true
			}
			ps.optionIndex[m.key] = len(ps.options)
			ps.options = append(ps.options, mergedOption{name: m.key, val: m.val})
		}
	}
	for _, o := range ps.options {
		if o.dropped {
			continue
		}
		name := cString(o.name)
		value, known := optionValue(o.val)
		if !known {
			ps.warn(source, "Cannot parse unknown value type for option: %s", name)
		}
		if value == "" || name == "" {
			continue
		}
		if ps.opts.SetOption != nil {
			if err := ps.opts.SetOption(name, value); err != nil {
				ps.warn(source, "%s", err.Error())
				continue
			}
		}
		// Flags the rest of the load depends on.
		switch name {
		case "schedule_default_interval":
			if n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64); err == nil {
				ps.defaultInterval = n
			}
		case "pack_delimiter":
			ps.delim = value
		}
	}
}

// optionValue converts an option's JSON value to flag text as osquery does:
// a string as is (cut at a NUL), a bool as "true"/"false", an int32 in
// decimal, any other number as its 64 bits read as unsigned (a negative
// number wraps; a double gives its IEEE-754 bit pattern, which is what
// osquery's RapidJSON GetUint64 returns), an object or array serialized.
// null is not convertible (known == false).
func optionValue(v jsonNode) (value string, known bool) {
	switch v.kind() {
	case jsonString:
		return v.cstr(), true
	case jsonBool:
		return strconv.FormatBool(v[0] == 't'), true
	case jsonNumber:
		n := v.num()
		if n.isInt {
			return strconv.FormatInt(int64(int32(n.bits)), 10), true
		}
		return strconv.FormatUint(n.bits, 10), true
	case jsonObject, jsonArray:
		return v.compact(false), true
	}
	return "", false
}

// parseDecorators is osquery's decorators parser; each source's decorators
// replace that source's earlier ones.
func (ps *parser) parseDecorators(source string, v jsonNode, ok bool) {
	delete(ps.decorators, source)
	if !ok {
		return
	}
	if v.kind() != jsonObject {
		ps.warn(source, "Invalid format for decorators configuration, decorators value must be a JSON object")
		return
	}
	obj := v.members()
	set := &DecoratorSet{Source: source}
	ps.decorators[source] = set
	strs := func(n jsonNode) []string {
		var out []string
		for _, e := range n.elems() {
			if e.kind() == jsonString {
				out = append(out, e.cstr())
			}
		}
		return out
	}
	if l, ok := obj.get("load"); ok {
		set.Load = strs(l)
	}
	if a, ok := obj.get("always"); ok {
		set.Always = strs(a)
	}
	iv, ok := obj.get("interval")
	if !ok {
		return
	}
	if iv.kind() != jsonObject {
		ps.warn(source, "Invalid decorator interval configuration in config source: %s", source)
		return
	}
	byRate := map[uint64]int{}
	for _, m := range iv.members() {
		rate, _ := parseSize(cString(m.key))
		// osquery accepts a key that is not a number as rate 0 and then
		// divides by it; gosquery refuses it with the same warning.
		if rate%60 != 0 || rate == 0 {
			ps.warn(source, "Invalid decorator interval rate %d in config source: %s", rate, source)
			continue
		}
		if m.val.kind() != jsonArray {
			ps.warn(source, "Invalid decorator interval rate %d configuration in config source: %s", rate, source)
			continue
		}
		i, seen := byRate[rate]
		if !seen {
			i = len(set.Interval)
			byRate[rate] = i
			set.Interval = append(set.Interval, IntervalDecorators{Seconds: rate})
		}
		set.Interval[i].Queries = append(set.Interval[i].Queries, strs(m.val)...)
	}
	sort.Slice(set.Interval, func(i, j int) bool { return set.Interval[i].Seconds < set.Interval[j].Seconds })
}

// finish fills the Config from the parser state.
func (ps *parser) finish(cfg *Config) {
	cfg.PackDelimiter = ps.delim
	for _, p := range ps.packs {
		if p != nil {
			cfg.Packs = append(cfg.Packs, p)
		}
	}
	names := map[string]string{}
	for _, p := range cfg.Packs {
		for _, q := range p.Queries {
			q.Name = q.Key
			// osquery keys this on the pack's name, so a pack that is
			// itself called "main" also keeps bare names.
			if p.Name != "main" {
				q.Name = "pack" + ps.delim + p.Name + ps.delim + q.Key
			}
			if p.Valid {
				if other, dup := names[q.Name]; dup {
					ps.debug(p.Source, "Scheduled query name %s is used by more than one pack (%s and %s)", q.Name, other, p.Name)
				}
				names[q.Name] = p.Name
			}
		}
	}
	for _, o := range ps.options {
		name := cString(o.name)
		if v, _ := optionValue(o.val); v != "" && name != "" && !o.dropped {
			cfg.Options = append(cfg.Options, Option{Name: name, Value: v})
		}
	}
	srcs := make([]string, 0, len(ps.decorators))
	for s := range ps.decorators {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	for _, s := range srcs {
		cfg.Decorators = append(cfg.Decorators, *ps.decorators[s])
	}
	if ps.events != nil {
		cfg.Events.Raw = ps.events.compact(false)
		ev := ps.events.members()
		strs := func(key string) []string {
			v, _ := ev.get(key)
			var out []string
			for _, e := range v.elems() {
				if e.kind() == jsonString {
					out = append(out, e.cstr())
				}
			}
			return out
		}
		cfg.Events.EnableSubscribers = strs("enable_subscribers")
		cfg.Events.DisableSubscribers = strs("disable_subscribers")
	}
	if ps.hasViews {
		idx := map[string]int{}
		for _, m := range ps.views.members() {
			name := cString(m.key)
			if m.val.kind() != jsonString {
				continue
			}
			sql := m.val.cstr()
			if sql == "" {
				continue
			}
			// A repeated name drops and recreates the view: last wins.
			if i, ok := idx[name]; ok {
				cfg.Views[i].SQL = sql
				continue
			}
			idx[name] = len(cfg.Views)
			cfg.Views = append(cfg.Views, View{Name: name, SQL: sql})
		}
	}
	if len(ps.extra) > 0 {
		cfg.Extra = ps.extra
	}
}
