package flags

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxFlagfileSize bounds what a flagfile read may hold; a flagfile is a few
// hundred bytes, and a runaway one must not exhaust memory.
const maxFlagfileSize = 1 << 20

// Parse applies gflags-style arguments and returns the positional ones in
// order. Like gflags it accepts flags anywhere in argv, "--" ends flag
// parsing, a non-boolean flag takes the next argument when written without
// "=", and --flagfile=PATH applies the file's lines as if given here.
func (s *Set) Parse(args []string) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			rest = append(rest, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		value, hasValue := "", false
		if eq := strings.IndexByte(name, '='); eq >= 0 {
			name, value, hasValue = name[:eq], name[eq+1:], true
		}
		if name == "flagfile" {
			if !hasValue {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("flag '%s' is missing its argument", name)
				}
				i++
				value = args[i]
			}
			if err := s.ApplyFlagfile(value); err != nil {
				return nil, err
			}
			s.store("flagfile", value)
			continue
		}
		d, ok := s.Lookup(name)
		if !ok {
			// gflags: --noname negates a boolean flag.
			if strings.HasPrefix(name, "no") && !hasValue {
				if nd, ok := s.Lookup(name[2:]); ok && nd.Type == Bool {
					if err := s.Set(nd.Name, "false"); err != nil {
						return nil, err
					}
					continue
				}
			}
			return nil, fmt.Errorf("unknown command line flag '%s'", name)
		}
		if !hasValue {
			if d.Type == Bool {
				value = "true"
			} else {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("flag '%s' is missing its argument; flag description: %s", name, d.Description)
				}
				i++
				value = args[i]
			}
		}
		if err := s.Set(d.Name, value); err != nil {
			return nil, err
		}
	}
	return rest, nil
}

// ApplyFlagfile reads a gflags flagfile: one --name=value per line, '#'
// comments, leading whitespace ignored, no quoting and no expansion. Lines
// that do not start with '-' are ignored, as gflags treats them as
// executable-name filters.
func (s *Set) ApplyFlagfile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read flagfile %s: %w", path, err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxFlagfileSize+1)); err != nil {
		return fmt.Errorf("read flagfile %s: %w", path, err)
	}
	if buf.Len() > maxFlagfileSize {
		return fmt.Errorf("read flagfile %s: larger than %d bytes", path, maxFlagfileSize)
	}
	var args []string
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 0, 4096), maxFlagfileSize+1)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] != '-' {
			continue
		}
		args = append(args, line)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read flagfile %s: %w", path, err)
	}
	// Each line is one argument: a value after "=" may contain spaces, and a
	// non-boolean flag without "=" has no next argument to take.
	for _, a := range args {
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") {
			if d, ok := s.Lookup(name); ok && d.Type != Bool {
				return fmt.Errorf("flagfile %s: flag '%s' is missing its value", path, name)
			}
		}
		if _, err := s.Parse([]string{a}); err != nil {
			return fmt.Errorf("flagfile %s: %w", path, err)
		}
	}
	return nil
}
