package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// defaultReadMax is osquery's --read_max, the largest file it reads.
const defaultReadMax = 52428800

// Filesystem is osquery's default config plugin: the file at Path (osquery's
// --config_path) plus every <Path>.d/*.conf, and pack files named in the
// config.
type Filesystem struct {
	Path string
	// ReadMax caps every file read (0 means osquery's --read_max default,
	// 50 MiB); a larger .d file or pack is skipped as osquery skips it.
	ReadMax int64
}

// Name is the plugin's --config_plugin name.
func (f *Filesystem) Name() string { return "filesystem" }

// Gen reads the config: the sources are every regular <Path>.d/*.conf
// (hidden files excluded, as glob(3) excludes them) and Path itself, each
// keyed by its path. Path must be a regular file (symlinks followed), else
// the error is osquery's "config file does not exist: <path>". A .d file
// that cannot be read is skipped, as osquery skips it; Path itself failing
// to read is an error (osquery would silently load an empty config).
func (f *Filesystem) Gen(ctx context.Context) (map[string][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if st, err := os.Stat(f.Path); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("config file does not exist: %s", f.Path)
	}
	out := map[string][]byte{}
	for _, p := range f.confDir() {
		if data, err := readCapped(p, f.readMax()); err == nil {
			out[p] = data
		}
	}
	data, err := readCapped(f.Path, f.readMax())
	if err != nil {
		return nil, fmt.Errorf("cannot read config file %s: %w", f.Path, err)
	}
	out[f.Path] = data
	return out, nil
}

// confDir lists <Path>.d/*.conf, sorted by path.
func (f *Filesystem) confDir() []string {
	dir := f.Path + ".d"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".conf") || strings.HasPrefix(name, ".") {
			continue
		}
		p := dir + "/" + name
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (f *Filesystem) readMax() int64 {
	if f.ReadMax > 0 {
		return f.ReadMax
	}
	return defaultReadMax
}

// GenPack reads the pack file at value. For name "*", value is a glob (in
// osquery's syntax '%' is the wildcard; '*' works too) and the result is a
// JSON object with one member per matching file, named after the file's
// stem, holding that pack. Each file is comment-stripped and parsed here;
// files that cannot be read or parsed are left out and reported in the
// returned error (joined, one per file) alongside the data, so the caller
// can warn about them as osquery does.
//
// Like osquery, which passes multi-packs through a Boost property tree,
// every scalar in a multi-pack arrives as a string and every empty object
// or array as "" (so `"snapshot": 1` is false there but true inline).
func (f *Filesystem) GenPack(ctx context.Context, name, value string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if name == "*" {
		return f.genMultiPack(ctx, value)
	}
	if st, err := os.Stat(value); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a valid path", value)
	}
	return readCapped(value, f.readMax())
}

func (f *Filesystem) genMultiPack(ctx context.Context, pattern string) ([]byte, error) {
	paths, err := globFiles(pattern)
	if err != nil {
		return nil, err
	}
	type pack struct{ name, body string }
	var packs []pack
	index := map[string]int{}
	var problems []error
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var data []byte
		st, err := os.Stat(p)
		if err == nil && st.Mode().IsRegular() {
			data, err = readCapped(p, f.readMax())
		} else if err == nil {
			err = errors.New("not a regular file")
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("Cannot read multi-pack file: %s", p))
			continue
		}
		doc, err := parseJSON(StripComments(data))
		if err != nil {
			problems = append(problems, fmt.Errorf("Cannot read multi-pack JSON: %s", p))
			continue
		}
		base := filepath.Base(p)
		stem := strings.TrimSuffix(base, filepath.Ext(base))
		body := doc.root.compact(true)
		// A second file with the same stem replaces the first in place
		// (Boost ptree put_child).
		if i, ok := index[stem]; ok {
			packs[i].body = body
			continue
		}
		index[stem] = len(packs)
		packs = append(packs, pack{stem, body})
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range packs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsonQuote(p.name))
		b.WriteByte(':')
		b.WriteString(p.body)
	}
	b.WriteByte('}')
	return []byte(b.String()), errors.Join(problems...)
}

// globFiles expands an osquery file pattern ('%' is '*') to sorted paths,
// leaving out names starting with '.' that the pattern does not spell out,
// as glob(3) does.
func globFiles(pattern string) ([]string, error) {
	pattern = strings.ReplaceAll(pattern, "%", "*")
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("bad pack pattern %q: %w", pattern, err)
	}
	hiddenOK := strings.HasPrefix(filepath.Base(pattern), ".")
	var out []string
	for _, m := range matches {
		if !hiddenOK && strings.HasPrefix(filepath.Base(m), ".") {
			continue
		}
		out = append(out, m)
	}
	sort.Strings(out)
	return out, nil
}

// readCapped reads a whole file, refusing one larger than max bytes
// without trusting the size the file system reports.
func readCapped(path string, max int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s exceeds the read limit of %d bytes", path, max)
	}
	return data, nil
}
