// Package flags owns every command-line flag: osquery's names, types,
// defaults and classes, gflags-compatible parsing (--name=value, --name value,
// --noname, --flagfile), and the config "options" override. A Set is a value
// passed to whoever needs it; nothing here is global except the table of
// definitions.
package flags

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Type is a flag's value type, named as gflags names it (osquery_flags.type).
type Type string

// Flag value types.
const (
	Bool   Type = "bool"
	String Type = "string"
	Int32  Type = "int32"
	Uint32 Type = "uint32"
	Int64  Type = "int64"
	Uint64 Type = "uint64"
	Double Type = "double"
)

// Class says where a flag may be set from (osquery/core/flags.h).
type Class uint8

// Flag classes.
const (
	// Normal flags may be set on the command line, in a flagfile and in the
	// config's "options".
	Normal Class = iota
	// CLI flags come only from argv or a flagfile.
	CLI
	// Shell flags only mean something to osqueryi.
	Shell
	// Hidden flags work but are left out of --help.
	Hidden
	// Extension flags are for extension processes.
	Extension
)

// Def defines one flag.
type Def struct {
	Name        string
	Type        Type
	Default     string
	Class       Class
	Description string
	// Aliases are legacy names that set the same flag.
	Aliases []string
}

// Info is a flag's state, as the osquery_flags table shows it.
type Info struct {
	Def
	Value     string
	Set       bool // changed from its default
	ShellOnly bool
}

// Set holds flag values. It is safe for concurrent use: the config reloads
// options while queries read flags.
type Set struct {
	mu      sync.RWMutex
	defs    map[string]*Def
	alias   map[string]string
	values  map[string]string
	changed map[string]bool
	// custom holds "custom_*" options from the config, which osquery keeps
	// without defining them.
	custom map[string]string
	// watchers are told when a flag changes after parsing (config reload).
	watchers []func(name, value string)
}

// NewSet returns a Set of the given definitions at their defaults.
func NewSet(defs []Def) *Set {
	s := &Set{
		defs:    make(map[string]*Def, len(defs)),
		alias:   map[string]string{},
		values:  make(map[string]string, len(defs)),
		changed: map[string]bool{},
		custom:  map[string]string{},
	}
	for i := range defs {
		d := &defs[i]
		if _, dup := s.defs[d.Name]; dup {
			panic("flags: duplicate flag " + d.Name)
		}
		s.defs[d.Name] = d
		s.values[d.Name] = d.Default
		for _, a := range d.Aliases {
			s.alias[a] = d.Name
		}
	}
	return s
}

// Standard returns a Set holding osquery's flags (and gosquery's own) at
// their defaults.
func Standard() *Set {
	return NewSet(slices.Clone(standardDefs))
}

// Lookup resolves a name or alias to its definition.
func (s *Set) Lookup(name string) (*Def, bool) {
	if real, ok := s.alias[name]; ok {
		name = real
	}
	d, ok := s.defs[name]
	return d, ok
}

// Get returns the flag's value as text ("" for unknown flags).
func (s *Set) Get(name string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if real, ok := s.alias[name]; ok {
		name = real
	}
	if v, ok := s.values[name]; ok {
		return v
	}
	return s.custom[name]
}

// Bool returns a boolean flag's value.
func (s *Set) Bool(name string) bool {
	b, _ := parseBool(s.Get(name))
	return b
}

// Int returns an integer flag's value (0 if it does not parse).
func (s *Set) Int(name string) int64 {
	v, err := strconv.ParseInt(s.Get(name), 10, 64)
	if err != nil {
		u, uerr := strconv.ParseUint(s.Get(name), 10, 64)
		if uerr == nil {
			if u > math.MaxInt64 {
				return math.MaxInt64
			}
			return int64(u)
		}
		return 0
	}
	return v
}

// Changed reports whether the flag was set away from its default.
func (s *Set) Changed(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if real, ok := s.alias[name]; ok {
		name = real
	}
	return s.changed[name]
}

// Set assigns a flag from the command line or a flagfile.
func (s *Set) Set(name, value string) error {
	d, ok := s.Lookup(name)
	if !ok {
		return fmt.Errorf("unknown command line flag '%s'", name)
	}
	canon, err := normalize(d, value)
	if err != nil {
		return err
	}
	s.store(d.Name, canon)
	return nil
}

// SetDefault changes a flag's value without marking it changed; the shell
// uses it for the defaults it imposes before parsing (disable_events=true).
func (s *Set) SetDefault(name, value string) error {
	d, ok := s.Lookup(name)
	if !ok {
		return fmt.Errorf("unknown command line flag '%s'", name)
	}
	canon, err := normalize(d, value)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.values[d.Name] = canon
	s.mu.Unlock()
	return nil
}

func (s *Set) store(name, value string) {
	s.mu.Lock()
	old := s.values[name]
	s.values[name] = value
	s.changed[name] = value != s.defs[name].Default || s.changed[name]
	watchers := s.watchers
	s.mu.Unlock()
	if old != value {
		for _, w := range watchers {
			w(name, value)
		}
	}
}

// SetOption applies one config "options" entry as osquery does: CLI-only
// flags are refused, custom_* names are kept as free-form values, unknown
// names are refused. The error is meant for a WARNING, not a failure.
func (s *Set) SetOption(name, value string) error {
	if strings.HasPrefix(name, "custom_") {
		s.mu.Lock()
		s.custom[name] = value
		s.mu.Unlock()
		return nil
	}
	d, ok := s.Lookup(name)
	if !ok {
		return fmt.Errorf("Cannot set unknown or invalid flag: %s", name)
	}
	if d.Class == CLI {
		return fmt.Errorf("The CLI only flag --%s set via config file will be ignored, please use a flagfile or pass it to the process at startup", name)
	}
	canon, err := normalize(d, value)
	if err != nil {
		return fmt.Errorf("Cannot set flag %s: %w", name, err)
	}
	s.store(d.Name, canon)
	return nil
}

// OnChange registers fn to be told of every later change of a flag's value.
func (s *Set) OnChange(fn func(name, value string)) {
	s.mu.Lock()
	s.watchers = append(s.watchers, fn)
	s.mu.Unlock()
}

// All returns every flag's state, sorted by name.
func (s *Set) All() []Info {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Info, 0, len(s.defs))
	for name, d := range s.defs {
		out = append(out, Info{Def: *d, Value: s.values[name], Set: s.changed[name], ShellOnly: d.Class == Shell})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// normalize checks value against the flag's type and returns the canonical
// text stored (booleans become "true"/"false").
func normalize(d *Def, value string) (string, error) {
	switch d.Type {
	case Bool:
		b, ok := parseBool(value)
		if !ok {
			return "", fmt.Errorf("illegal value '%s' specified for bool flag '%s'", value, d.Name)
		}
		return strconv.FormatBool(b), nil
	case Int32:
		if _, err := strconv.ParseInt(strings.TrimSpace(value), 10, 32); err != nil {
			return "", fmt.Errorf("illegal value '%s' specified for int32 flag '%s'", value, d.Name)
		}
	case Uint32:
		if _, err := strconv.ParseUint(strings.TrimSpace(value), 10, 32); err != nil {
			return "", fmt.Errorf("illegal value '%s' specified for uint32 flag '%s'", value, d.Name)
		}
	case Int64:
		if _, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64); err != nil {
			return "", fmt.Errorf("illegal value '%s' specified for int64 flag '%s'", value, d.Name)
		}
	case Uint64:
		if _, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64); err != nil {
			return "", fmt.Errorf("illegal value '%s' specified for uint64 flag '%s'", value, d.Name)
		}
	case Double:
		if _, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err != nil {
			return "", fmt.Errorf("illegal value '%s' specified for double flag '%s'", value, d.Name)
		}
	}
	if d.Type != String {
		return strings.TrimSpace(value), nil
	}
	return value, nil
}

// parseBool accepts what gflags accepts.
func parseBool(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "y", "yes":
		return true, true
	case "0", "f", "false", "n", "no":
		return false, true
	}
	return false, false
}
