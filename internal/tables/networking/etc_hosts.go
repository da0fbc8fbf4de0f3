package networking

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var etcHostsSpec = table.Spec{
	Name:        "etc_hosts",
	Description: "Line-parsed /etc/hosts.",
	Columns: []table.Column{
		table.Text("address"),
		table.Text("hostnames"),
		table.Integer("pid_with_namespace").Hidden().Additional(),
	},
	Attributes: table.Cacheable,
}

type etcHostsRow struct {
	Address          string `col:"address"`
	Hostnames        string `col:"hostnames"`
	PIDWithNamespace int64  `col:"pid_with_namespace"`
}

func init() { table.Register(etcHostsSpec, generateEtcHosts) }

// etcHostsMaxRead caps the read of a hosts file; ad-blocking lists run to
// a few MiB, so the cap is generous.
const etcHostsMaxRead = 64 << 20

// generateEtcHosts parses /etc/hosts. With `pid_with_namespace = N` it
// reads the file that process sees instead, through /proc/N/root (its
// root directory in its own mount namespace), where osquery forks into the
// namespace; the rows then carry N, otherwise 0. A process whose root
// cannot be read (gone, or another user's without root) has no rows.
func generateEtcHosts(ctx context.Context, q *table.Query, emit func(etcHostsRow)) error {
	pids := q.EqualsInt("pid_with_namespace")
	if len(pids) == 0 {
		b, err := procfs.ReadFile(q.Env.Path("/etc/hosts"), etcHostsMaxRead)
		if errors.Is(err, fs.ErrNotExist) {
			// A host (or container image) without the file has no rows.
			return nil
		}
		if err != nil {
			return fmt.Errorf("etc_hosts: %w", err)
		}
		for _, r := range parseEtcHosts(b) {
			emit(r)
		}
		return nil
	}
	proc := procfs.New(q.Env.ProcRoot)
	for _, pid := range pids {
		if ctx.Err() != nil {
			return nil
		}
		if pid <= 0 || pid > 1<<31 {
			continue
		}
		// Resolved inside the process's root, so an /etc/hosts that is a
		// symlink in the container reads the container's target.
		b, err := procfs.ReadFileInRoot(proc.PIDPath(int(pid), "root"), "/etc/hosts", etcHostsMaxRead)
		if err != nil {
			// The process is gone or its root is not ours to read.
			q.Env.Log.Debug("etc_hosts: cannot read hosts file in namespace", "pid", pid, "err", err)
			continue
		}
		for _, r := range parseEtcHosts(b) {
			r.PIDWithNamespace = pid
			emit(r)
		}
	}
	return nil
}

// parseEtcHosts parses hosts(5) as osquery does: one row per line that has
// an address, the names after it joined by single spaces up to a '#'
// comment. A line with an address and no names gives an empty hostnames.
// The address is not validated, as osquery does not.
func parseEtcHosts(b []byte) []etcHostsRow {
	var out []etcHostsRow
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		r := etcHostsRow{Address: f[0]}
		names := f[1:]
		for i, n := range names {
			if strings.HasPrefix(n, "#") {
				names = names[:i]
				break
			}
		}
		r.Hostnames = strings.Join(names, " ")
		out = append(out, r)
	}
	return out
}
