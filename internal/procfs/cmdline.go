package procfs

import "bytes"

// SplitKernelCmdline splits /proc/cmdline into its space-separated
// arguments, as osquery's kernel_info does: runs of spaces and the trailing
// newline do not make empty arguments, and quotes are not interpreted
// (an argument written `a="b c"` comes back as two).
func SplitKernelCmdline(b []byte) []string {
	var out []string
	for _, f := range bytes.Split(b, []byte{' '}) {
		f = bytes.TrimSpace(f)
		if len(f) > 0 {
			out = append(out, string(f))
		}
	}
	return out
}

// KernelCmdline reads and splits /proc/cmdline.
func (fs FS) KernelCmdline() ([]string, error) {
	b, err := ReadFile(fs.Path("cmdline"), 64<<10)
	if err != nil {
		return nil, err
	}
	return SplitKernelCmdline(b), nil
}
