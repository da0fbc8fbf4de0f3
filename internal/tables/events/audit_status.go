package events

import (
	"context"

	"github.com/gosquery/gosquery/internal/audit"
	"github.com/gosquery/gosquery/internal/events/auditpub"
	"github.com/gosquery/gosquery/internal/table"
)

// audit_status is gosquery's own table: the kernel's audit status (who owns
// audit, backlog, the kernel's lost counter) and every counter of our audit
// reader and proc connector, so loss is visible in SQL, never silent.
var auditStatusSpec = table.Spec{
	Name:        "audit_status",
	Description: "The kernel's audit status and gosquery's audit and proc connector counters.",
	Columns: []table.Column{
		table.Text("mode"),
		table.Integer("enabled"),
		table.Integer("failure"),
		table.BigInt("owner_pid"),
		table.BigInt("rate_limit"),
		table.BigInt("backlog_limit"),
		table.BigInt("backlog"),
		table.BigInt("backlog_wait_time"),
		table.BigInt("kernel_lost"),
		table.BigInt("kernel_lost_since_start"),
		table.BigInt("rules"),
		table.BigInt("receive_buffer"),
		table.BigInt("datagrams"),
		table.BigInt("records"),
		table.BigInt("events"),
		table.BigInt("execs"),
		table.BigInt("enobufs"),
		table.BigInt("queue_drops"),
		table.BigInt("truncated"),
		table.BigInt("sequence_gaps"),
		table.BigInt("reassembly_timeouts"),
		table.BigInt("incomplete_events"),
		table.BigInt("parse_errors"),
		table.BigInt("lost_total"),
		table.BigInt("ownership_lost"),
		table.BigInt("queue"),
		table.BigInt("pending_events"),
		table.BigInt("procconn_forks"),
		table.BigInt("procconn_exits"),
		table.BigInt("procconn_lost"),
	},
}

type auditStatusRow struct {
	Mode            string `col:"mode"`
	Enabled         int64  `col:"enabled"`
	Failure         int64  `col:"failure"`
	OwnerPID        int64  `col:"owner_pid"`
	RateLimit       int64  `col:"rate_limit"`
	BacklogLimit    int64  `col:"backlog_limit"`
	Backlog         int64  `col:"backlog"`
	BacklogWaitTime int64  `col:"backlog_wait_time"`
	KernelLost      int64  `col:"kernel_lost"`
	LostSinceStart  uint64 `col:"kernel_lost_since_start"`
	Rules           int64  `col:"rules"`
	RcvBuf          int64  `col:"receive_buffer"`
	Datagrams       uint64 `col:"datagrams"`
	Records         uint64 `col:"records"`
	Events          uint64 `col:"events"`
	Execs           uint64 `col:"execs"`
	ENOBUFS         uint64 `col:"enobufs"`
	Drops           uint64 `col:"queue_drops"`
	Truncated       uint64 `col:"truncated"`
	Gaps            uint64 `col:"sequence_gaps"`
	Timeouts        uint64 `col:"reassembly_timeouts"`
	Incomplete      uint64 `col:"incomplete_events"`
	ParseErrors     uint64 `col:"parse_errors"`
	LostTotal       uint64 `col:"lost_total"`
	OwnershipLost   uint64 `col:"ownership_lost"`
	Queue           int64  `col:"queue"`
	Pending         int64  `col:"pending_events"`
	ConnForks       uint64 `col:"procconn_forks"`
	ConnExits       uint64 `col:"procconn_exits"`
	ConnLost        uint64 `col:"procconn_lost"`
}

func init() { table.Register(auditStatusSpec, generateAuditStatus) }

// generateAuditStatus reports the running publisher's counters, or, when
// gosquery is not collecting, the kernel's status alone (mode "none").
func generateAuditStatus(ctx context.Context, q *table.Query, emit func(auditStatusRow)) error {
	pub := auditpub.FromEnv(q.Env)
	st, running := pub.Stats()
	if !running {
		c, err := audit.NewClient()
		if err != nil {
			return err
		}
		defer c.Close()
		kst, err := c.GetStatus()
		if err != nil {
			return err
		}
		st = audit.Stats{Mode: audit.ModeNone, Kernel: kst}
	}
	k := st.Kernel
	row := auditStatusRow{
		Mode: st.Mode.String(), Enabled: int64(k.Enabled), Failure: int64(k.Failure), OwnerPID: int64(k.PID),
		RateLimit: int64(k.RateLimit), BacklogLimit: int64(k.BacklogLimit), Backlog: int64(k.Backlog),
		BacklogWaitTime: int64(k.BacklogWaitTime), KernelLost: int64(k.Lost), LostSinceStart: st.KernelLost,
		Rules: int64(st.Rules), RcvBuf: int64(st.RcvBuf), Datagrams: st.Datagrams, Records: st.Records,
		Events: st.Events, Execs: st.Execs, ENOBUFS: st.ENOBUFS, Drops: st.Drops, Truncated: st.Truncated,
		Gaps: st.Gaps, Timeouts: st.Timeouts, Incomplete: st.Incomplete, ParseErrors: st.ParseErrors,
		LostTotal: st.Lost(), OwnershipLost: st.OwnershipLost, Queue: int64(st.Queue), Pending: int64(st.Pending),
	}
	if cs, ok := pub.ConnStats(); ok {
		row.ConnForks, row.ConnExits = cs.Forks, cs.Exits
		row.ConnLost = cs.Overruns + cs.Drops
		row.LostTotal += row.ConnLost
	}
	emit(row)
	return nil
}
