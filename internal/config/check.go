package config

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"github.com/gosquery/gosquery/internal/flags"
)

// Exit codes of --config_check and --config_dump.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitCatastrophe = 78 // EXIT_CATASTROPHIC: the config plugin cannot be activated
)

// Load reads the config through p and parses it; string packs are
// resolved through p unless opts.GenPack is set.
func Load(ctx context.Context, p Plugin, opts ParseOptions) (*Config, []Warning, error) {
	sources, err := p.Gen(ctx)
	if err != nil {
		return nil, nil, err
	}
	if opts.GenPack == nil {
		opts.GenPack = func(name, value string) ([]byte, error) { return p.GenPack(ctx, name, value) }
	}
	return Parse(sources, opts)
}

// Result is what a --config_check or --config_dump run prints and its exit
// code. Warnings are the status messages to log (through the glog
// handler, as osquery logs them to stderr).
type Result struct {
	Stdout   string
	Stderr   string
	Code     int
	Warnings []Warning
}

// Check is --config_check: activate the config plugin named plugin, load
// and parse the config, and report "Error reading config: <message>" with
// exit code 1 on failure, exit code 78 if the plugin cannot be activated,
// 0 otherwise. Semantically odd entries only produce warnings.
func Check(ctx context.Context, plugin string, fs *flags.Set, opts ParseOptions) Result {
	p, err := NewPlugin(plugin, fs)
	if err != nil {
		return Result{Stderr: err.Error() + "\n", Code: ExitCatastrophe}
	}
	_, warns, err := Load(ctx, p, opts)
	if err != nil {
		return Result{Stderr: "Error reading config: " + err.Error() + "\n", Code: ExitFailure, Warnings: warns}
	}
	return Result{Code: ExitOK, Warnings: warns}
}

// Dump is --config_dump: print every source, unparsed and before comment
// stripping, as `{"<source>": <content>}` on its own line, sorted by
// source name, and exit 0. osquery prints both with printf("%s"), so
// neither is escaped and the content is cut at a NUL byte. If the config
// cannot be read, Dump reports it as --config_check does (osquery would
// print nothing and carry on as a daemon).
func Dump(ctx context.Context, plugin string, fs *flags.Set) Result {
	p, err := NewPlugin(plugin, fs)
	if err != nil {
		return Result{Stderr: err.Error() + "\n", Code: ExitCatastrophe}
	}
	sources, err := p.Gen(ctx)
	if err != nil {
		return Result{Stderr: "Error reading config: " + err.Error() + "\n", Code: ExitFailure}
	}
	return Result{Stdout: DumpSources(sources), Code: ExitOK}
}

// DumpSources formats sources as --config_dump prints them.
func DumpSources(sources map[string][]byte) string {
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		content := sources[n]
		if i := bytes.IndexByte(content, 0); i >= 0 {
			content = content[:i]
		}
		fmt.Fprintf(&b, "{\"%s\": %s}\n", cString(n), content)
	}
	return b.String()
}
