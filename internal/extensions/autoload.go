package extensions

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gosquery/gosquery/internal/procfs"
)

// autoloader runs the extensions listed in --extensions_autoload and
// restarts them when they exit, as osquery's watcher does.
type autoloader struct {
	m     *Manager
	quit  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	procs map[string]*os.Process
}

// maxAutoloadFile bounds the autoload list read.
const maxAutoloadFile = 1 << 20

// startAutoload reads the autoload list and starts each safe binary, and
// extra (osqueryi --extension) unchecked, as osquery does. It returns nil
// when there is nothing to run.
func startAutoload(m *Manager, extra string) *autoloader {
	paths := autoloadPaths(m, m.fl.Get("extensions_autoload"))
	if extra != "" && !slices.Contains(paths, extra) {
		paths = append(paths, extra)
	}
	if len(paths) == 0 {
		return nil
	}
	a := &autoloader{m: m, quit: make(chan struct{}), procs: map[string]*os.Process{}}
	for _, p := range paths {
		a.wg.Add(1)
		go a.run(p)
	}
	return a
}

// autoloadPaths lists the binaries to run: one path per line ('#' and ';'
// start comments), a directory meaning the files in it, each accepted
// only if it passes autoloadSafe.
func autoloadPaths(m *Manager, listFile string) []string {
	if listFile == "" {
		return nil
	}
	b, err := procfs.ReadFile(listFile, maxAutoloadFile)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			m.log.Info("Could not autoload extensions: " + err.Error())
		}
		return nil
	}
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if err := autoloadSafe(p, m.fl.Bool("allow_unsafe")); err != nil {
			m.log.Warn(err.Error())
			return
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if fi, err := os.Stat(line); err == nil && fi.IsDir() {
			entries, _ := os.ReadDir(line)
			for _, e := range entries {
				if !e.IsDir() {
					add(filepath.Join(line, e.Name()))
				}
			}
			continue
		}
		add(line)
	}
	sort.Strings(out)
	return out
}

// autoloadSafe applies osquery's checks to an extension binary: it must
// exist, end in .ext, and (unless --allow_unsafe) be a regular executable
// file owned by root or us, not writable by others, in a directory that
// is not sticky (tmp-like) and not writable by others.
func autoloadSafe(path string, allowUnsafe bool) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("extension doesn't exist at: %s", path)
	}
	if filepath.Ext(path) != ".ext" {
		return fmt.Errorf("Will not autoload extension not ending in '.ext': %s", path)
	}
	if allowUnsafe {
		return nil
	}
	unsafe := fmt.Errorf("Will not autoload extension with unsafe directory permissions: %s", path)
	di, err := os.Stat(filepath.Dir(path))
	if err != nil || di.Mode()&os.ModeSticky != 0 || di.Mode().Perm()&0o002 != 0 {
		return unsafe
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o100 == 0 || fi.Mode().Perm()&0o002 != 0 {
		return unsafe
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (st.Uid != 0 && int(st.Uid) != os.Getuid()) {
		return unsafe
	}
	return nil
}

// run keeps one extension running: started with osquery's argv, restarted
// after it exits, with a growing delay for one that keeps failing fast.
func (a *autoloader) run(path string) {
	defer a.wg.Done()
	fl := a.m.fl
	delay := time.Second
	for {
		args := []string{}
		if fl.Bool("verbose") {
			args = append(args, "--verbose")
		}
		args = append(args, "--socket", a.m.path, "--timeout", fl.Get("extensions_timeout"), "--interval", fl.Get("extensions_interval"))
		cmd := exec.Command(path, args...)
		cmd.Env = append(os.Environ(), "OSQUERY_EXTENSION="+strconv.Itoa(os.Getpid()))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		// Its own process group, so a terminal's Ctrl-C reaches the core,
		// which then stops the extension itself. No Pdeathsig: Go ties it to the
		// starting thread, not the process; an orphaned extension exits on its
		// own when the core socket goes away.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			a.m.log.Warn(fmt.Sprintf("Cannot start extension %s: %v", path, err))
		} else {
			a.m.log.Info(fmt.Sprintf("Started extension %s (pid %d)", path, cmd.Process.Pid))
			a.mu.Lock()
			a.procs[path] = cmd.Process
			a.mu.Unlock()
			cmd.Wait()
			a.mu.Lock()
			delete(a.procs, path)
			a.mu.Unlock()
		}
		select {
		case <-a.quit:
			return
		default:
		}
		if time.Since(start) > time.Minute {
			delay = time.Second
		}
		a.m.log.Warn(fmt.Sprintf("Extension %s exited; restarting in %v", path, delay))
		select {
		case <-a.quit:
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// stop ends the extensions: SIGTERM, then SIGKILL for any still running
// after a second.
func (a *autoloader) stop() {
	close(a.quit)
	a.mu.Lock()
	for _, p := range a.procs {
		p.Signal(syscall.SIGTERM)
	}
	a.mu.Unlock()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		a.mu.Lock()
		for _, p := range a.procs {
			p.Kill()
		}
		a.mu.Unlock()
		<-done
	}
}
