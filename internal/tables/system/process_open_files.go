package system

import (
	"context"
	"strings"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var processOpenFilesSpec = table.Spec{
	Name:        "process_open_files",
	Description: "File descriptors for each process.",
	Columns: []table.Column{
		table.BigInt("pid").Index(),
		table.BigInt("fd"),
		table.Text("path"),
	},
}

type processOpenFileRow struct {
	PID  int64  `col:"pid"`
	FD   int64  `col:"fd"`
	Path string `col:"path"`
}

func init() { table.Register(processOpenFilesSpec, generateProcessOpenFiles) }

// generateProcessOpenFiles lists /proc/<pid>/fd of every process, or of the
// pids named by `pid = ?` / `pid IN (...)`. Like osquery it leaves out the
// descriptors that name no file: sockets, pipes and anonymous inodes
// (eventfd, epoll, inotify, timerfd ...), which have their own tables.
// Everything else is listed with the link as the kernel prints it: device
// nodes, deleted files (with the kernel's " (deleted)" suffix), memfds
// ("/memfd:name"), namespace handles ("net:[4026531840]").
func generateProcessOpenFiles(ctx context.Context, q *table.Query, emit func(processOpenFileRow)) error {
	fs := procfs.New(q.Env.ProcRoot)
	pids, err := queriedPIDs(q, fs)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if ctx.Err() != nil {
			return nil
		}
		fds, err := fs.FDs(int(pid))
		if err != nil {
			// Gone, or not ours to read without root.
			q.Env.Log.Debug("process_open_files: cannot list descriptors", "pid", pid, "err", err)
			continue
		}
		for _, fd := range fds {
			if !openFileIsFile(fd.Link) {
				continue
			}
			emit(processOpenFileRow{PID: pid, FD: fd.Num, Path: fd.Link})
		}
	}
	return nil
}

// openFileIsFile reports whether an fd link names a file rather than a
// socket, pipe or anonymous inode. osquery matches these markers anywhere
// in the link, which also drops real files whose path contains "pipe:";
// the kernel only ever prints them as a prefix, so a prefix is matched.
func openFileIsFile(link string) bool {
	for _, p := range [...]string{"socket:", "pipe:", "anon_inode:"} {
		if strings.HasPrefix(link, p) {
			return false
		}
	}
	return true
}
