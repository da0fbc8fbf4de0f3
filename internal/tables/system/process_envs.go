package system

import (
	"context"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var processEnvsSpec = table.Spec{
	Name:        "process_envs",
	Description: "A key/value table of environment variables for each process.",
	Columns: []table.Column{
		table.Integer("pid").Index().Optimized(),
		table.Text("key"),
		table.Text("value"),
	},
}

type processEnvRow struct {
	PID   int64  `col:"pid"`
	Key   string `col:"key"`
	Value string `col:"value"`
}

func init() { table.Register(processEnvsSpec, generateProcessEnvs) }

// generateProcessEnvs emits one row per variable of /proc/<pid>/environ,
// for every process or only the pids named by `pid = ?` / `pid IN (...)`.
// environ is the environment the process started with (or set up with
// prctl(PR_SET_MM)); later setenv(3) calls are not visible, as in osquery.
// Processes whose environ cannot be read (other users' processes without
// root, exited processes) are skipped; kernel threads have none.
func generateProcessEnvs(ctx context.Context, q *table.Query, emit func(processEnvRow)) error {
	fs := procfs.New(q.Env.ProcRoot)
	pids, err := queriedPIDs(q, fs)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if ctx.Err() != nil {
			return nil
		}
		b, err := fs.Environ(int(pid))
		if err != nil {
			q.Env.Log.Debug("process_envs: cannot read environ", "pid", pid, "err", err)
			continue
		}
		for _, kv := range procfs.ParseEnviron(b) {
			emit(processEnvRow{PID: pid, Key: kv[0], Value: kv[1]})
		}
	}
	return nil
}
