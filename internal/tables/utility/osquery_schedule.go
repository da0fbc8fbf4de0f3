package utility

import (
	"context"

	"github.com/gosquery/gosquery/internal/schedule"
	"github.com/gosquery/gosquery/internal/table"
)

var osquerySchedule = table.Spec{
	Name:        "osquery_schedule",
	Description: "Information about the current queries that are scheduled in osquery.",
	Columns: []table.Column{
		table.Text("name"),
		table.Text("query"),
		table.Integer("interval"),
		table.BigInt("executions"),
		table.BigInt("last_executed"),
		table.Integer("denylisted"),
		table.BigInt("output_size"),
		table.BigInt("wall_time"),
		table.BigInt("wall_time_ms"),
		table.BigInt("last_wall_time_ms"),
		table.BigInt("user_time"),
		table.BigInt("last_user_time"),
		table.BigInt("system_time"),
		table.BigInt("last_system_time"),
		table.BigInt("average_memory"),
		table.BigInt("last_memory"),
	},
	Attributes: table.Utility,
}

type osqueryScheduleRow struct {
	Name           string `col:"name"`
	Query          string `col:"query"`
	Interval       uint64 `col:"interval"`
	Executions     uint64 `col:"executions"`
	LastExecuted   int64  `col:"last_executed"`
	Denylisted     bool   `col:"denylisted"`
	OutputSize     uint64 `col:"output_size"`
	WallTime       uint64 `col:"wall_time"`
	WallTimeMS     uint64 `col:"wall_time_ms"`
	LastWallTimeMS uint64 `col:"last_wall_time_ms"`
	UserTime       uint64 `col:"user_time"`
	LastUserTime   uint64 `col:"last_user_time"`
	SystemTime     uint64 `col:"system_time"`
	LastSystemTime uint64 `col:"last_system_time"`
	AverageMemory  uint64 `col:"average_memory"`
	LastMemory     uint64 `col:"last_memory"`
}

func init() { table.Register(osquerySchedule, generateOsquerySchedule) }

// generateOsquerySchedule lists the running scheduler's queries with their
// performance counters (times in milliseconds, memory in bytes); empty in
// the shell, which has no schedule.
func generateOsquerySchedule(ctx context.Context, q *table.Query, emit func(osqueryScheduleRow)) error {
	s := schedule.FromEnv(q.Env)
	if s == nil {
		return nil
	}
	for _, i := range s.Queries() {
		emit(osqueryScheduleRow{
			Name: i.Name, Query: i.SQL, Interval: i.Interval, Executions: i.Executions,
			LastExecuted: i.LastExecuted, Denylisted: i.Denylisted, OutputSize: i.OutputSize,
			WallTime: i.WallTimeMS / 1000, WallTimeMS: i.WallTimeMS, LastWallTimeMS: i.LastWallTimeMS,
			UserTime: i.UserTimeMS, LastUserTime: i.LastUserTimeMS, SystemTime: i.SystemTimeMS,
			LastSystemTime: i.LastSystemTime, AverageMemory: i.AverageMemory, LastMemory: i.LastMemory,
		})
	}
	return nil
}
