package system

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosquery/gosquery/internal/procfs"
	"github.com/gosquery/gosquery/internal/table"
)

var mountsSpec = table.Spec{
	Name:        "mounts",
	Description: "System mounted devices and filesystems (not process specific).",
	Columns: []table.Column{
		table.Text("device"),
		table.Text("device_alias"),
		table.Text("path"),
		table.Text("type"),
		table.BigInt("blocks_size"),
		table.BigInt("blocks"),
		table.BigInt("blocks_free"),
		table.BigInt("blocks_available"),
		table.BigInt("inodes"),
		table.BigInt("inodes_free"),
		table.Text("flags"),
	},
}

type mountRow struct {
	Device          string `col:"device"`
	DeviceAlias     string `col:"device_alias"`
	Path            string `col:"path"`
	Type            string `col:"type"`
	BlocksSize      int64  `col:"blocks_size"`
	Blocks          uint64 `col:"blocks"`
	BlocksFree      uint64 `col:"blocks_free"`
	BlocksAvailable uint64 `col:"blocks_available"`
	Inodes          uint64 `col:"inodes"`
	InodesFree      uint64 `col:"inodes_free"`
	Flags           string `col:"flags"`
}

func init() { table.Register(mountsSpec, generateMounts) }

// mountsStatfsTimeout bounds statfs on one mount point. statfs on an NFS or
// FUSE mount whose server is gone blocks in the kernel; the table reports
// zeros for that mount instead of hanging the query.
const mountsStatfsTimeout = 2 * time.Second

// generateMounts lists /proc/mounts (the mount namespace gosquery runs
// in) with statfs(2) figures for each mount point. flags is the raw option
// string ("rw,nosuid,relatime"), device_alias the device path with
// symlinks resolved (/dev/disk/by-uuid/... -> /dev/sda1), or the device as
// written when it is not a path. Block and inode counts are 0 for autofs
// mount points (statfs would trigger the automount) and for mounts statfs
// fails on, as in osquery. osquery truncates the counts to 32 bits; they
// are reported whole here.
func generateMounts(ctx context.Context, q *table.Query, emit func(mountRow)) error {
	mounts, err := procfs.New(q.Env.ProcRoot).Mounts()
	if err != nil {
		return err
	}
	wantStat := q.UsedAny("blocks_size", "blocks", "blocks_free", "blocks_available", "inodes", "inodes_free")
	wantAlias := q.Used("device_alias")
	for _, m := range mounts {
		if ctx.Err() != nil {
			return nil
		}
		r := mountRow{Device: m.Device, DeviceAlias: m.Device, Path: m.Path, Type: m.Type, Flags: m.Options}
		if wantAlias {
			r.DeviceAlias = mountsDeviceAlias(q.Env.Root, m.Device)
		}
		if wantStat && m.Type != "autofs" {
			if st, ok := mountsStatfs(ctx, q.Env.Path(m.Path)); ok {
				// Field widths differ between architectures.
				r.BlocksSize = int64(st.Bsize)
				r.Blocks = uint64(st.Blocks)
				r.BlocksFree = uint64(st.Bfree)
				r.BlocksAvailable = uint64(st.Bavail)
				r.Inodes = uint64(st.Files)
				r.InodesFree = uint64(st.Ffree)
			} else {
				q.Env.Log.Debug("mounts: statfs failed", "path", m.Path)
			}
		}
		emit(r)
	}
	return nil
}

// mountsDeviceAlias resolves symlinks in a device path under root, like
// canonicalize_file_name(3). A device that is not an absolute path (proc,
// tmpfs, server:/export) or does not resolve is returned as it is.
func mountsDeviceAlias(root, dev string) string {
	if !strings.HasPrefix(dev, "/") {
		return dev
	}
	full := dev
	if root != "" && root != "/" {
		full = filepath.Join(root, dev)
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return dev
	}
	if root != "" && root != "/" {
		rel, err := filepath.Rel(root, real)
		if err != nil || strings.HasPrefix(rel, "..") {
			return dev
		}
		return "/" + rel
	}
	return real
}

// mountsStatfs runs statfs on path, giving up after mountsStatfsTimeout.
// The goroutine of a hung call stays blocked in the kernel until the mount
// answers; it holds nothing but its own result channel.
func mountsStatfs(ctx context.Context, path string) (unix.Statfs_t, bool) {
	type result struct {
		st  unix.Statfs_t
		err error
	}
	done := make(chan result, 1)
	go func() {
		var st unix.Statfs_t
		err := unix.Statfs(path, &st)
		done <- result{st, err}
	}()
	timer := time.NewTimer(mountsStatfsTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.st, r.err == nil
	case <-timer.C:
		return unix.Statfs_t{}, false
	case <-ctx.Done():
		return unix.Statfs_t{}, false
	}
}
