package carver

import (
	"context"
	"github.com/gosquery/gosquery/internal/likepath"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// globMaxDepth bounds `%%` recursion, as osquery's kMaxRecursiveGlobs.
const globMaxDepth = 64

// ExpandLike calls emit with each path the LIKE pattern names, as
// osquery's carves table resolves a `path LIKE` constraint (its
// resolveFilePattern with GLOB_ALL: files and directories):
//
//   - '%' matches any run of characters within one path component, but
//     not a leading '.', as glob's '*';
//   - a trailing "%%" matches what '%' matches and everything below each
//     directory matched, hidden entries included, following symlinks to
//     directories but entering none twice, at most globMaxDepth levels;
//   - every other character is literal ('_' too, as in osquery).
//
// A relative pattern is taken against the working directory. Paths are
// emitted in lexical order per directory; emit returns false to stop.
func ExpandLike(ctx context.Context, pattern string, emit func(path string) bool) {
	if pattern == "" || strings.IndexByte(pattern, 0) >= 0 {
		return
	}
	if !strings.HasPrefix(pattern, "/") {
		abs, err := filepath.Abs(pattern)
		if err != nil {
			return
		}
		if strings.HasSuffix(pattern, "/") {
			abs += "/"
		}
		pattern = abs
	}
	g := &glob{ctx: ctx, emit: emit}
	if strings.HasSuffix(pattern, "%%") {
		g.recursive = true
		g.visited = map[[2]uint64]bool{}
		pattern = pattern[:len(pattern)-1]
	}
	comps := strings.Split(pattern, "/")
	g.walk("", comps[1:])
}

type glob struct {
	ctx       context.Context
	emit      func(string) bool
	recursive bool
	stopped   bool
	visited   map[[2]uint64]bool
}

func (g *glob) done() bool {
	if !g.stopped && g.ctx.Err() != nil {
		g.stopped = true
	}
	return g.stopped
}

func (g *glob) send(p string) bool {
	if g.done() {
		return false
	}
	if !g.emit(p) {
		g.stopped = true
		return false
	}
	return true
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// walk matches the components rest below the directory prefix ("" is /).
func (g *glob) walk(prefix string, rest []string) {
	if g.done() || len(rest) == 0 {
		return
	}
	comp, last := rest[0], len(rest) == 1
	if !strings.Contains(comp, "%") {
		p := prefix + "/" + comp
		switch {
		case !last:
			g.walk(p, rest[1:])
		case comp == "":
			// A trailing '/' names a directory.
			if isDir(p) {
				g.result(p)
			}
		default:
			if _, err := os.Lstat(p); err == nil {
				g.result(p)
			}
		}
		return
	}
	dir := prefix
	if dir == "" {
		dir = "/"
	}
	names := readNames(dir)
	if last && g.recursive {
		g.markVisited(dir)
	}
	for _, name := range names {
		if g.done() {
			return
		}
		if !likepath.MatchComponent(comp, name) {
			continue
		}
		p := prefix + "/" + name
		if last {
			g.result(p)
		} else if isDir(p) {
			g.walk(p, rest[1:])
		}
	}
}

// result emits a match and, under a trailing %%, everything below it.
func (g *glob) result(p string) {
	if !g.send(p) {
		return
	}
	if g.recursive && isDir(p) {
		g.descend(p, 0)
	}
}

func (g *glob) descend(dir string, depth int) {
	if depth >= globMaxDepth || g.done() || !g.markVisited(dir) {
		return
	}
	for _, name := range readNames(dir) {
		p := strings.TrimSuffix(dir, "/") + "/" + name
		if !g.send(p) {
			return
		}
		if isDir(p) {
			g.descend(p, depth+1)
		}
	}
}

// markVisited records dir by device and inode; false if seen before.
func (g *glob) markVisited(dir string) bool {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	id := [2]uint64{sys.Dev, sys.Ino}
	if g.visited[id] {
		return false
	}
	g.visited[id] = true
	return true
}

// readNames lists dir, sorted; an unreadable directory has no entries.
func readNames(dir string) []string {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(MaxPaths + 1)
	sort.Strings(names)
	return names
}
