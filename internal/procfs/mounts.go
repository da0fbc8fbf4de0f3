package procfs

import (
	"bytes"
	"strconv"
)

// Mount is one line of /proc/mounts (fstab(5) format), with the kernel's
// octal escapes (\040 for a space, \011, \012, \134) decoded.
type Mount struct {
	Device  string
	Path    string
	Type    string
	Options string
	Freq    int
	Passno  int
}

// ParseMounts parses /proc/mounts (or /proc/<pid>/mounts, /etc/mtab).
// Comment lines and lines with fewer than three fields are skipped; a
// missing option field reads as empty, as getmntent(3) has it.
func ParseMounts(b []byte) []Mount {
	var out []Mount
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		f := bytes.Fields(line)
		if len(f) < 3 || f[0][0] == '#' {
			continue
		}
		m := Mount{
			Device: unescapeMountField(f[0]),
			Path:   unescapeMountField(f[1]),
			Type:   unescapeMountField(f[2]),
		}
		if len(f) > 3 {
			m.Options = unescapeMountField(f[3])
		}
		if len(f) > 4 {
			m.Freq, _ = strconv.Atoi(string(f[4]))
		}
		if len(f) > 5 {
			m.Passno, _ = strconv.Atoi(string(f[5]))
		}
		out = append(out, m)
	}
	return out
}

// unescapeMountField decodes \ooo octal escapes; anything else, including a
// backslash not followed by three octal digits, is kept as it is.
func unescapeMountField(f []byte) string {
	if bytes.IndexByte(f, '\\') < 0 {
		return string(f)
	}
	out := make([]byte, 0, len(f))
	for i := 0; i < len(f); i++ {
		if f[i] == '\\' && i+3 < len(f) && isOctal(f[i+1]) && isOctal(f[i+2]) && isOctal(f[i+3]) {
			v := int(f[i+1]-'0')<<6 | int(f[i+2]-'0')<<3 | int(f[i+3]-'0')
			if v < 256 {
				out = append(out, byte(v))
				i += 3
				continue
			}
		}
		out = append(out, f[i])
	}
	return string(out)
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Mounts reads and parses <root>/mounts (a link to self/mounts: the mount
// namespace of the reading process).
func (fs FS) Mounts() ([]Mount, error) {
	b, err := ReadFile(fs.Path("mounts"), DefaultMaxRead)
	if err != nil {
		return nil, err
	}
	return ParseMounts(b), nil
}
