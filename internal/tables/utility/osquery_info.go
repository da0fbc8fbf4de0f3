package utility

import (
	"context"

	"github.com/gosquery/gosquery/internal/table"
)

var osqueryInfoSpec = table.Spec{
	Name:        "osquery_info",
	Description: "Top level information about the running version of osquery.",
	Columns: []table.Column{
		table.Integer("pid"),
		table.Text("uuid"),
		table.Text("instance_id"),
		table.Text("version"),
		table.Text("config_hash"),
		table.Integer("config_valid"),
		table.Text("extensions"),
		table.Text("build_platform"),
		table.Text("build_distro"),
		table.Integer("start_time"),
		table.Integer("watcher"),
		table.Integer("platform_mask"),
	},
	Attributes: table.Utility,
}

type osqueryInfoRow struct {
	PID           int64  `col:"pid"`
	UUID          string `col:"uuid"`
	InstanceID    string `col:"instance_id"`
	Version       string `col:"version"`
	ConfigHash    string `col:"config_hash"`
	ConfigValid   int64  `col:"config_valid"`
	Extensions    string `col:"extensions"`
	BuildPlatform string `col:"build_platform"`
	BuildDistro   string `col:"build_distro"`
	StartTime     int64  `col:"start_time"`
	Watcher       int64  `col:"watcher"`
	PlatformMask  int64  `col:"platform_mask"`
}

// osqueryPlatformMask is osquery's PlatformType bits for Linux: POSIX (8)
// plus LINUX (1).
const osqueryPlatformMask = 9

func init() { table.Register(osqueryInfoSpec, generateOsqueryInfo) }

// generateOsqueryInfo reports this process: its pid and start, the host
// UUID, the instance id, the loaded config's hash and whether the extension
// manager answers.
func generateOsqueryInfo(ctx context.Context, q *table.Query, emit func(osqueryInfoRow)) error {
	rt := q.Env.Runtime
	row := osqueryInfoRow{
		PID:           int64(rt.PID),
		UUID:          rt.HostUUID,
		InstanceID:    rt.InstanceID,
		Version:       rt.Version,
		Extensions:    "inactive",
		BuildPlatform: "linux",
		BuildDistro:   "gosquery",
		StartTime:     rt.StartTime.Unix(),
		Watcher:       int64(rt.Watcher),
		PlatformMask:  osqueryPlatformMask,
	}
	if rt.ConfigHash != nil {
		hash, valid := rt.ConfigHash()
		row.ConfigHash = hash
		if valid {
			row.ConfigValid = 1
		}
	}
	if rt.ExtensionOK != nil && rt.ExtensionOK() {
		row.Extensions = "active"
	}
	emit(row)
	return nil
}
