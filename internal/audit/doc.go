// Package audit is gosquery's own client for the Linux audit subsystem over
// NETLINK_AUDIT, written on golang.org/x/sys/unix with no third-party audit
// library. It owns everything between the kernel and an exec event:
//
//   - the wire structs (struct audit_status, struct audit_rule_data) and the
//     syscall numbers the rules need, per architecture (status.go, rule.go);
//   - a control Client: status get/set, rule list/add/delete, with ACKs,
//     sequence matching and deadlines (client.go);
//   - datagram and record parsing, tolerant of the unicast nlmsg_len quirk
//     and of hostile input (record.go);
//   - reassembly of records into events by serial, up to EOE, with a
//     timeout, a memory bound and serial-gap detection (reassemble.go);
//   - decoding of exec (and fork/clone/kill) events into an Exec value,
//     including multi-record, hex and chunked arguments (exec.go);
//   - the Source: the lifecycle osquery's audit publisher has (become the
//     audit daemon or read the multicast group, configure, install rules,
//     read without ever blocking the kernel, count every loss, undo it all
//     on Close) (source.go);
//   - the lock that serialises tests touching the machine-global audit
//     state, and RestoreState to put that state back (lock.go).
//
// Audit is a machine-wide singleton: one daemon slot, global rules, global
// counters. Whatever a Source changes it undoes in Close, which callers
// must run on SIGTERM/SIGINT and from a deferred recover; see Source.Close.
// The measured wire formats and pitfalls this package relies on are in
// reference/linux-audit-notes.md.
package audit
