package config

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// MaxInterval is the longest accepted query interval (one week).
const MaxInterval = 604800

// NoStartupPriority is a query's StartupPriority when the config gives none.
const NoStartupPriority = math.MaxUint64

// Pack is a named set of scheduled queries. The config's "schedule" is the
// pack named "main"; every other pack comes from "packs".
type Pack struct {
	Name string
	// Source is the config source that defined the pack; packs are
	// replaced per (Name, Source), so two sources may each have a "main".
	Source    string
	Platform  string
	Version   string
	Shard     uint64
	Oncall    string // "unknown" when the pack names none
	Discovery []string
	// Valid is false when the pack's platform, version or shard excludes
	// this host: such a pack is listed (osquery_packs) but has no queries
	// and never runs.
	Valid bool
	// Queries are ordered by (StartupPriority, Key).
	Queries []*Query

	mu        sync.Mutex
	active    bool
	checked   bool
	checkedAt int64
	cached    bool
	hits      uint64
	misses    uint64
}

// Query is one scheduled query.
type Query struct {
	// Name is the name results are logged and stored under: the key for
	// the "main" pack, pack<d><pack><d><key> otherwise (d = pack_delimiter).
	Name string
	// Key is the query's name inside its pack.
	Key      string
	Pack     *Pack
	SQL      string
	Interval uint64
	Snapshot bool
	Removed  bool
	// Denylist false means a watchdog kill never denylists this query.
	Denylist bool
	Platform string
	Version  string
	Shard    uint64
	// StartupPriority orders the queries run once at startup; it is
	// NoStartupPriority for a query that does not run at startup.
	StartupPriority uint64
	Description     string
	Value           string
	// Oncall is the pack's oncall (osquery does not read it per query).
	Oncall string
}

// RunsAtStartup reports whether the query has a startup_priority.
func (q *Query) RunsAtStartup() bool { return q.StartupPriority != NoStartupPriority }

// Active reports the last discovery decision (false until checked).
func (p *Pack) Active() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active
}

// SetActive records a discovery decision made elsewhere.
func (p *Pack) SetActive(active bool) {
	p.mu.Lock()
	p.active = active && p.Valid
	p.mu.Unlock()
}

// DiscoveryStats returns how many discovery checks were answered from the
// cache and how many ran the queries (osquery_packs.discovery_cache_hits
// and discovery_executions).
func (p *Pack) DiscoveryStats() (hits, executions uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits, p.misses
}

// CheckDiscovery decides whether the pack runs now, as osquery does before
// each scheduled run of one of its queries: an invalid pack never runs; the
// discovery queries run at most once per refreshSeconds (the
// pack_refresh_interval flag) and the pack is active only if every one
// succeeds and returns at least one row. run executes one SQL statement and
// returns its row count. A failing query is reported as osquery reports it.
func (p *Pack) CheckDiscovery(now int64, refreshSeconds uint64, run func(sql string) (rows int, err error)) (bool, []Warning) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.Valid {
		p.active = false
		return false, nil
	}
	if p.checked && now >= p.checkedAt && uint64(now-p.checkedAt) < refreshSeconds {
		p.hits++
		p.active = p.cached
		return p.active, nil
	}
	p.misses++
	p.checked, p.checkedAt = true, now
	result := true
	var warns []Warning
	for _, q := range p.Discovery {
		n, err := run(q)
		if err != nil {
			warns = append(warns, Warning{Level: slog.LevelWarn, Source: p.Source,
				Message: fmt.Sprintf("Discovery query failed (%s): %v", q, err)})
			result = false
			break
		}
		if n == 0 {
			result = false
			break
		}
	}
	p.cached, p.active = result, result
	return result, warns
}

// errStoi is the std::out_of_range osquery's version comparison throws for
// a version component that does not fit an int; it aborts the whole pack.
var errStoi = errors.New("stoi")

// reservedPrefixes and reservedSuffixes are database key shapes a query
// name must not collide with (query.<name>, <name>epoch, <name>counter,
// cache.*, config_views.*).
var (
	reservedPrefixes = []string{"query.", "cache.", "config_views."}
	reservedSuffixes = []string{"epoch", "counter"}
)

func reservedQueryName(name string) bool {
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, s := range reservedSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// buildPack is osquery's Pack::initialize. The error is the one that makes
// osquery drop the pack entirely ("Error adding pack").
func (ps *parser) buildPack(name, source string, obj jsonObj) (*Pack, error) {
	pk := &Pack{Name: name, Source: source, Oncall: "unknown"}
	if v, ok := obj.get("shard"); ok {
		pk.Shard = valueToSize(v)
	}
	if v, ok := obj.get("platform"); ok && v.kind() == jsonString {
		pk.Platform = v.cstr()
	}
	if v, ok := obj.get("version"); ok && v.kind() == jsonString {
		pk.Version = v.cstr()
	}
	if v, ok := obj.get("oncall"); ok && v.kind() == jsonString {
		pk.Oncall = v.cstr()
	}

	// Same short-circuit order as osquery: a shard-excluded pack never
	// evaluates its version.
	if pk.Shard > 0 && pk.Shard < ps.shard {
		ps.debug(source, "Pack %s is not active on this host (shard %d < host shard %d)", name, pk.Shard, ps.shard)
		return pk, nil
	}
	if !checkPlatform(pk.Platform) {
		ps.debug(source, "Pack %s is not active on this host (platform %q)", name, pk.Platform)
		return pk, nil
	}
	ok, err := checkVersion(pk.Version, ps.version)
	if err != nil {
		return nil, err
	}
	if !ok {
		ps.debug(source, "Pack %s is not active on this host (version %q)", name, pk.Version)
		return pk, nil
	}

	if v, ok := obj.get("discovery"); ok && v.kind() == jsonArray {
		for _, item := range v.elems() {
			if item.kind() == jsonString {
				pk.Discovery = append(pk.Discovery, item.cstr())
			}
		}
	}
	pk.Valid = true

	qv, ok := obj.get("queries")
	if !ok || qv.kind() != jsonObject {
		ps.debug(source, "No queries defined for pack %s", name)
		return pk, nil
	}
	seen := map[string]bool{}
	for _, m := range qv.members() {
		q, err := ps.buildQuery(pk, m)
		if err != nil {
			return nil, err
		}
		if q == nil {
			continue
		}
		if seen[q.Key] {
			// std::map::emplace keeps the first.
			ps.debug(source, "Duplicate query %s in pack %s ignored", q.Key, name)
			continue
		}
		seen[q.Key] = true
		pk.Queries = append(pk.Queries, q)
	}
	sort.SliceStable(pk.Queries, func(i, j int) bool {
		a, b := pk.Queries[i], pk.Queries[j]
		if a.StartupPriority != b.StartupPriority {
			return a.StartupPriority < b.StartupPriority
		}
		return a.Key < b.Key
	})
	return pk, nil
}

// buildQuery checks one member of a pack's "queries"; nil means skipped.
func (ps *parser) buildQuery(pk *Pack, m jsonMember) (*Query, error) {
	key := cString(m.key)
	if m.val.kind() != jsonObject {
		ps.debug(pk.Source, "The pack %s contains an invalid query", pk.Name)
		return nil, nil
	}
	if reservedQueryName(key) {
		ps.warn(pk.Source, "Query name is reserved and will be ignored: %s", key)
		return nil, nil
	}
	qo := m.val.members()
	q := &Query{Key: key, Pack: pk, Oncall: pk.Oncall, StartupPriority: NoStartupPriority, Removed: true, Denylist: true}

	if v, ok := qo.get("shard"); ok {
		q.Shard = valueToSize(v)
		if q.Shard > 0 && q.Shard < ps.shard {
			ps.debug(pk.Source, "Query %s skipped on this host (shard %d < host shard %d)", key, q.Shard, ps.shard)
			return nil, nil
		}
	}
	if v, ok := qo.get("platform"); ok && v.kind() == jsonString {
		q.Platform = v.cstr()
		if !checkPlatform(q.Platform) {
			ps.debug(pk.Source, "Query %s skipped on this host (platform %q)", key, q.Platform)
			return nil, nil
		}
	}
	if v, ok := qo.get("version"); ok && v.kind() == jsonString {
		q.Version = v.cstr()
		ok, err := checkVersion(q.Version, ps.version)
		if err != nil {
			return nil, err
		}
		if !ok {
			ps.debug(pk.Source, "Query %s skipped on this host (version %q)", key, q.Version)
			return nil, nil
		}
	}
	sql, ok := qo.get("query")
	if !ok || sql.kind() != jsonString {
		ps.debug(pk.Source, "No query string defined for query %s", key)
		return nil, nil
	}
	q.SQL = sql.cstr()

	if v, ok := qo.get("interval"); ok {
		q.Interval = valueToSize(v)
	} else {
		q.Interval = ps.defaultInterval
	}
	if q.Interval == 0 || q.SQL == "" || q.Interval > MaxInterval {
		// osquery says "interval" for an empty query too.
		ps.warn(pk.Source, "Query has invalid interval: %s: %d", key, q.Interval)
		return nil, nil
	}
	if v, ok := qo.get("snapshot"); ok {
		q.Snapshot = valueToBool(v)
	}
	if v, ok := qo.get("removed"); ok {
		q.Removed = valueToBool(v)
	}
	if v, ok := qo.get("denylist"); ok {
		q.Denylist = valueToBool(v)
	}
	if v, ok := qo.get("startup_priority"); ok && v.kind() != jsonNull {
		p, valid := startupPriority(v)
		if valid {
			q.StartupPriority = p
		} else {
			ps.debug(pk.Source, "Query %s has an invalid startup_priority, ignored", key)
		}
	}
	if v, ok := qo.get("description"); ok && v.kind() == jsonString {
		q.Description = v.cstr()
	}
	if v, ok := qo.get("value"); ok && v.kind() == jsonString {
		q.Value = v.cstr()
	}
	return q, nil
}

// startupPriority accepts a non-negative integer or a numeric string.
func startupPriority(v jsonNode) (uint64, bool) {
	switch v.kind() {
	case jsonNumber:
		n := v.num()
		if n.double || (v[0] == '-' && n.bits != 0) {
			return 0, false
		}
		return n.bits, true
	case jsonString:
		s := strings.TrimSpace(v.cstr())
		n, err := strconv.ParseUint(s, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// cString cuts s at its first NUL, as a C string would.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// MachineShard is osquery's host shard: the first byte of SHA1(hostname),
// scaled to 0..100.
func MachineShard(hostname string) uint64 {
	sum := sha1.Sum([]byte(hostname))
	return uint64(sum[0]) * 100 / 255
}

// checkPlatform is osquery's checkPlatform on a Linux build: substring
// tests, so "windows,linux" and "posix" match and "darwin" does not.
func checkPlatform(p string) bool {
	if p == "" || p == "null" {
		return true
	}
	for _, s := range []string{"any", "all", "linux", "ubuntu", "centos", "posix"} {
		if strings.Contains(p, s) {
			return true
		}
	}
	return false
}

// checkVersion is osquery's Pack::checkVersion: true when no version is
// required or the running version is at least the required one.
func checkVersion(required, running string) (bool, error) {
	if required == "" || required == "null" {
		return true, nil
	}
	return versionAtLeast(required, running)
}

// versionAtLeast is osquery's versionAtLeast(v, sdk): dotted components
// compared as integers (std::stoi prefixes), falling back to a string
// comparison for a component that is not a number; a component too large
// for an int is an error, as the std::out_of_range is in osquery.
func versionAtLeast(v, sdk string) (bool, error) {
	if v == "0.0.0" || sdk == "0.0.0" {
		return true, nil
	}
	req := splitVersion(v)
	for i, chunk := range splitVersion(sdk) {
		if len(req) <= i {
			return true, nil
		}
		a, errA := stoi(chunk)
		if errA == errStoi {
			return false, errA
		}
		if errA == nil {
			b, errB := stoi(req[i])
			if errB == errStoi {
				return false, errB
			}
			if errB == nil {
				if a < b {
					return false, nil
				}
				if a > b {
					return true, nil
				}
				continue
			}
		}
		if chunk < req[i] {
			return false, nil
		}
	}
	return true, nil
}

// splitVersion is osquery's split(s, "."): empty pieces dropped, each
// piece trimmed.
func splitVersion(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ".") {
		if p == "" {
			continue
		}
		out = append(out, strings.Trim(p, stripSpace))
	}
	return out
}

var errNoDigits = errors.New("invalid_argument")

// stoi is std::stoi: leading whitespace, an optional sign, then the longest
// run of digits; none is invalid_argument, beyond int32 is out_of_range.
func stoi(s string) (int64, error) {
	t := strings.TrimLeft(s, stripSpace)
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	n := 0
	for n < len(t) && t[n] >= '0' && t[n] <= '9' {
		n++
	}
	if n == 0 {
		return 0, errNoDigits
	}
	v, err := strconv.ParseInt(t[:n], 10, 64)
	if neg {
		v = -v
	}
	if err != nil || v > math.MaxInt32 || v < math.MinInt32 {
		return 0, errStoi
	}
	return v, nil
}

// SplayInterval is osquery's splayed interval: a random value within
// ±percent of interval (never below 1). A percent of 0 or 1 means 10, as
// osquery resets it; above 100 there is no splay.
func SplayInterval(interval, percent uint64, r *rand.Rand) uint64 {
	if percent <= 1 {
		percent = 10
	}
	if percent > 100 {
		return interval
	}
	// osquery computes the spread in single precision.
	diff := uint64(float32(interval) * (float32(percent) / 100))
	hi := interval + diff
	lo := uint64(1)
	if interval-diff > 1 {
		lo = interval - diff
	}
	if hi <= lo {
		return hi
	}
	if r == nil {
		return lo + rand.Uint64N(hi-lo+1)
	}
	return lo + r.Uint64N(hi-lo+1)
}

// ParseStoredSplay reads the "<interval>:<splayed>" value osquery stores
// under interval.<query name> and returns the splayed interval if it was
// computed for the same interval.
func ParseStoredSplay(stored string, interval uint64) (uint64, bool) {
	a, b, ok := strings.Cut(stored, ":")
	if !ok || strings.Contains(b, ":") {
		return 0, false
	}
	iv, err1 := strconv.ParseInt(a, 10, 64)
	sp, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || iv < 0 || uint64(iv) != interval || sp <= 0 {
		return 0, false
	}
	return uint64(sp), true
}

// FormatStoredSplay is the value stored under interval.<query name>.
func FormatStoredSplay(interval, splayed uint64) string {
	return strconv.FormatUint(interval, 10) + ":" + strconv.FormatUint(splayed, 10)
}
