package config

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/gosquery/gosquery/internal/flags"
)

// Plugin is a config source, osquery's "config" registry. Gen returns the
// config as named sources (the filesystem plugin keys them by path, the TLS
// plugin uses one source, "tls_plugin"). The order of the map does not
// matter: osquery keeps sources in a std::map and applies them sorted by
// name, and so does Parse.
//
// GenPack resolves a pack given as a string in "packs" ("name": "value").
// For the special name "*" the value is a glob and the result is one JSON
// object mapping each pack name to its content. A plugin that cannot resolve
// packs returns an error; Parse then warns as osquery does.
type Plugin interface {
	Name() string
	Gen(ctx context.Context) (map[string][]byte, error)
	GenPack(ctx context.Context, name, value string) ([]byte, error)
}

// NewFunc builds a plugin from the current flags.
type NewFunc func(fs *flags.Set) (Plugin, error)

var (
	pluginsMu sync.RWMutex
	plugins   = map[string]NewFunc{}
)

// RegisterPlugin makes a config plugin selectable by --config_plugin. It is
// meant to be called from init; registering a name twice panics.
func RegisterPlugin(name string, fn NewFunc) {
	pluginsMu.Lock()
	defer pluginsMu.Unlock()
	if _, dup := plugins[name]; dup {
		panic("config: duplicate plugin " + name)
	}
	plugins[name] = fn
}

// PluginNames lists the registered plugins, sorted.
func PluginNames() []string {
	pluginsMu.RLock()
	defer pluginsMu.RUnlock()
	out := make([]string, 0, len(plugins))
	for n := range plugins {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ActivationError is the failure to activate the selected config plugin,
// which osquery treats as catastrophic (exit 78).
type ActivationError struct {
	Name string
	Err  error
}

func (e *ActivationError) Error() string {
	return fmt.Sprintf("Cannot activate %s config plugin: %v", e.Name, e.Err)
}

func (e *ActivationError) Unwrap() error { return e.Err }

// NewPlugin returns the config plugin called name, built from fs (nil means
// osquery's defaults). An unknown name gives an *ActivationError.
func NewPlugin(name string, fs *flags.Set) (Plugin, error) {
	if fs == nil {
		fs = flags.Standard()
	}
	pluginsMu.RLock()
	fn := plugins[name]
	pluginsMu.RUnlock()
	if fn == nil {
		return nil, &ActivationError{Name: name, Err: fmt.Errorf("Unknown registry plugin: %s", name)}
	}
	p, err := fn(fs)
	if err != nil {
		return nil, &ActivationError{Name: name, Err: err}
	}
	return p, nil
}

func init() {
	RegisterPlugin("filesystem", func(fs *flags.Set) (Plugin, error) {
		return &Filesystem{Path: fs.Get("config_path"), ReadMax: fs.Int("read_max")}, nil
	})
}
