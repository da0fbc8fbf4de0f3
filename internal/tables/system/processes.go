package system

import (
	"context"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var processesSpec = table.Spec{
	Name:        "processes",
	Description: "All running processes on the host system.",
	Columns: []table.Column{
		table.BigInt("pid").Index().Optimized(),
		table.Text("name"),
		table.Text("path"),
		table.Text("cmdline"),
		table.Text("state"),
		table.Text("cwd"),
		table.Text("root"),
		table.BigInt("uid"),
		table.BigInt("gid"),
		table.BigInt("euid"),
		table.BigInt("egid"),
		table.BigInt("suid"),
		table.BigInt("sgid"),
		table.Integer("on_disk"),
		table.BigInt("wired_size"),
		table.BigInt("resident_size"),
		table.BigInt("total_size"),
		table.BigInt("user_time"),
		table.BigInt("system_time"),
		table.BigInt("disk_bytes_read"),
		table.BigInt("disk_bytes_written"),
		table.BigInt("start_time"),
		table.BigInt("parent"),
		table.BigInt("pgroup"),
		table.Integer("threads"),
		table.Integer("nice"),
		table.Text("cgroup_path"),
	},
	Attributes: table.Cacheable,
}

type processRow struct {
	PID              int64  `col:"pid"`
	Name             string `col:"name"`
	Path             string `col:"path"`
	Cmdline          string `col:"cmdline"`
	State            string `col:"state"`
	Cwd              string `col:"cwd"`
	Root             string `col:"root"`
	UID              int64  `col:"uid"`
	GID              int64  `col:"gid"`
	EUID             int64  `col:"euid"`
	EGID             int64  `col:"egid"`
	SUID             int64  `col:"suid"`
	SGID             int64  `col:"sgid"`
	OnDisk           int64  `col:"on_disk"`
	WiredSize        int64  `col:"wired_size"`
	ResidentSize     int64  `col:"resident_size"`
	TotalSize        int64  `col:"total_size"`
	UserTime         int64  `col:"user_time"`
	SystemTime       int64  `col:"system_time"`
	DiskBytesRead    int64  `col:"disk_bytes_read"`
	DiskBytesWritten int64  `col:"disk_bytes_written"`
	StartTime        int64  `col:"start_time"`
	Parent           int64  `col:"parent"`
	PGroup           int64  `col:"pgroup"`
	Threads          int64  `col:"threads"`
	Nice             int64  `col:"nice"`
	CgroupPath       string `col:"cgroup_path"`
}

func init() { table.Register(processesSpec, generateProcesses) }

// generateProcesses lists /proc, or only the pids named by `pid = ?` or
// `pid IN (...)`. Files behind columns the query does not read are not
// opened: `select pid, name from processes` reads one file per process.
func generateProcesses(ctx context.Context, q *table.Query, emit func(processRow)) error {
	fs := procfs.New(q.Env.ProcRoot)
	pids, err := queriedPIDs(q, fs)
	if err != nil {
		return err
	}
	// start_time is epoch seconds: boot time plus the start tick count.
	bootUnix := int64(-1)
	if q.Used("start_time") {
		if boot, err := fs.BootTime(); err == nil {
			bootUnix = boot.Unix()
		}
	}
	want := processColumns{
		status:  q.UsedAny("uid", "gid", "euid", "egid", "suid", "sgid", "resident_size", "total_size"),
		path:    q.UsedAny("path", "on_disk"),
		cmdline: q.Used("cmdline"),
		cwd:     q.Used("cwd"),
		root:    q.Used("root"),
		io:      q.UsedAny("disk_bytes_read", "disk_bytes_written"),
		cgroup:  q.Used("cgroup_path"),
	}
	// A process that exited between listing and reading, or a pid that was
	// never there, is skipped.
	if len(pids) < processesParallelMin {
		for _, pid := range pids {
			if ctx.Err() != nil {
				return nil
			}
			if row, ok := readProcess(fs, int(pid), bootUnix, want); ok {
				emit(row)
			}
		}
		return nil
	}
	for row := range readProcessesParallel(ctx, fs, pids, bootUnix, want) {
		emit(row)
	}
	return nil
}

// processesParallelMin is the listing size from which /proc is read by
// several goroutines. Reading a process is a handful of syscalls that
// cost microseconds each on a VM and run in parallel across cores; below
// this size the hand-off costs more than it saves.
const processesParallelMin = 48

// readProcessesParallel reads the pids with one reader per CPU and yields
// rows as they come; when ctx is cancelled (LIMIT reached) the readers
// stop.
func readProcessesParallel(ctx context.Context, fs procfs.FS, pids []int64, bootUnix int64, want processColumns) <-chan processRow {
	workers := min(runtime.GOMAXPROCS(0), 8)
	rows := make(chan processRow, 64)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(pids)) || ctx.Err() != nil {
					return
				}
				row, ok := readProcess(fs, int(pids[i]), bootUnix, want)
				if !ok {
					continue
				}
				select {
				case rows <- row:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(rows)
	}()
	return rows
}

type processColumns struct {
	status, path, cmdline, cwd, root, io, cgroup bool
}

func readProcess(fs procfs.FS, pid int, bootUnix int64, want processColumns) (processRow, bool) {
	r := processRow{PID: int64(pid), OnDisk: -1, DiskBytesRead: -1, DiskBytesWritten: -1, StartTime: -1}
	// stat is always read: it is the cheapest proof the process exists and
	// carries the name. The name is the raw comm from stat, not status's
	// Name, which the kernel escapes (a newline becomes "\n"), so that the
	// name never depends on which other columns a query reads.
	st, err := fs.Stat(pid)
	if err != nil {
		return r, false
	}
	r.Name = st.Comm
	r.State = string(rune(st.State))
	r.Parent = int64(st.PPID)
	r.PGroup = int64(st.PGRP)
	r.Threads = st.Threads
	r.Nice = st.Nice
	r.UserTime = int64(st.UTime * 1000 / procfs.ClockTicks)
	r.SystemTime = int64(st.STime * 1000 / procfs.ClockTicks)
	if bootUnix >= 0 {
		r.StartTime = bootUnix + int64(st.StartTime/procfs.ClockTicks)
	}
	if want.status {
		if s, err := fs.Status(pid); err == nil {
			r.UID, r.EUID, r.SUID = s.UID[0], s.UID[1], s.UID[2]
			r.GID, r.EGID, r.SGID = s.GID[0], s.GID[1], s.GID[2]
			r.ResidentSize = s.VmRSS
			r.TotalSize = s.VmSize
		}
	}
	if want.path {
		r.Path, r.OnDisk = processPath(fs, pid)
	}
	if want.cmdline {
		if b, err := fs.Cmdline(pid); err == nil {
			r.Cmdline = procfs.JoinCmdline(b)
		}
	}
	if want.cwd {
		r.Cwd, _ = fs.Cwd(pid)
	}
	if want.root {
		r.Root, _ = fs.RootDir(pid)
	}
	if want.io {
		if io, err := fs.IO(pid); err == nil {
			r.DiskBytesRead, r.DiskBytesWritten = io.ReadBytes, io.WriteBytes
		}
	}
	if want.cgroup {
		if b, err := procfs.ReadFile(fs.PIDPath(pid, "cgroup"), 64<<10); err == nil {
			r.CgroupPath = procfs.ParseCgroupPath(b)
		}
	}
	return r, true
}

// processPath returns the executable path and osquery's on_disk: 1 when the
// path still names the file the process runs, 0 when that file is gone or
// replaced, -1 when the link cannot be read (kernel threads, permissions).
func processPath(fs procfs.FS, pid int) (string, int64) {
	link, err := fs.Exe(pid)
	if err != nil || link == "" {
		return "", -1
	}
	path, deleted := strings.CutSuffix(link, " (deleted)")
	if deleted {
		return path, 0
	}
	onDisk, err := os.Stat(path)
	if err != nil {
		return path, 0
	}
	running, err := os.Stat(fs.PIDPath(pid, "exe"))
	if err != nil {
		return path, -1
	}
	a, aok := onDisk.Sys().(*syscall.Stat_t)
	b, bok := running.Sys().(*syscall.Stat_t)
	if aok && bok && (a.Ino != b.Ino || a.Dev != b.Dev) {
		return path, 0
	}
	return path, 1
}
