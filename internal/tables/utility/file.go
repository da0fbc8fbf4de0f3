package utility

import (
	"context"

	"github.com/gosquery/gosquery/internal/table"
)

var fileSpec = table.Spec{
	Name:        "file",
	Description: "Interactive filesystem attributes and metadata.",
	Columns: []table.Column{
		table.Text("path").Index().Required().Optimized(),
		table.Text("directory").Required().Optimized(),
		table.Text("filename"),
		table.BigInt("inode"),
		table.BigInt("uid"),
		table.BigInt("gid"),
		table.Text("mode"),
		table.BigInt("device"),
		table.BigInt("size"),
		table.Integer("block_size"),
		table.BigInt("atime"),
		table.BigInt("mtime"),
		table.BigInt("ctime"),
		table.BigInt("btime"),
		table.Integer("hard_links"),
		table.Integer("symlink"),
		table.Text("type"),
		table.Text("symlink_target_path"),
		table.Integer("pid_with_namespace").Additional().Hidden(),
		table.Text("mount_namespace_id").Hidden(),
	},
	Attributes: table.Utility,
}

type fileRow struct {
	Path              string `col:"path"`
	Directory         string `col:"directory"`
	Filename          string `col:"filename"`
	Inode             uint64 `col:"inode"`
	UID               int64  `col:"uid"`
	GID               int64  `col:"gid"`
	Mode              string `col:"mode"`
	Device            uint64 `col:"device"`
	Size              int64  `col:"size"`
	BlockSize         int64  `col:"block_size"`
	Atime             int64  `col:"atime"`
	Mtime             int64  `col:"mtime"`
	Ctime             int64  `col:"ctime"`
	Btime             int64  `col:"btime"`
	HardLinks         uint64 `col:"hard_links"`
	Symlink           bool   `col:"symlink"`
	Type              string `col:"type"`
	SymlinkTargetPath string `col:"symlink_target_path"`
	PIDWithNamespace  int64  `col:"pid_with_namespace"`
	MountNamespaceID  string `col:"mount_namespace_id"`
}

func init() { table.Register(fileSpec, generateFile) }

// generateFile reports stat(2) facts for the paths named by `path` or the
// entries of the directories named by `directory`, with `=`, `IN` or `LIKE`
// (see fileGlob for how patterns expand). With pid_with_namespace the paths
// are looked up in that process's mount namespace. A path that cannot be
// lstat'ed produces no row, as in osquery.
func generateFile(ctx context.Context, q *table.Query, emit func(fileRow)) error {
	wantTarget := q.Used("symlink_target_path")
	views := fileViews(q)
	defer closeFileViews(views)
	for _, v := range views {
		eachFileTarget(ctx, q, v, func(t fileTarget) bool {
			if r, ok := fileRowFor(v, t, wantTarget); ok {
				emit(r)
			}
			return ctx.Err() == nil
		})
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// fileRowFor stats one path. Like osquery it reports the symlink's target
// when the path is a symlink (symlink = 1 says so), and the link itself when
// the target cannot be reached. type then says "symlink" (osquery's boost
// status() would say "unknown" or "error" there; "symlink" is the type of
// what the other columns describe).
func fileRowFor(v *fileView, t fileTarget, wantTarget bool) (fileRow, bool) {
	lst, err := v.stat(t.path, false)
	if err != nil {
		v.log.Debug("file: cannot stat", "path", t.path, "err", err)
		return fileRow{}, false
	}
	r := fileRow{
		Path:             t.path,
		Directory:        t.dir,
		Filename:         t.name,
		PIDWithNamespace: v.pid,
		MountNamespaceID: v.mntNS,
	}
	st := lst
	if lst.isLink() {
		r.Symlink = true
		if wantTarget {
			if target, err := v.readlink(t.path); err == nil {
				r.SymlinkTargetPath = target
			}
		}
		if fst, err := v.stat(t.path, true); err == nil {
			st = fst
		}
	}
	r.Inode = st.ino
	r.UID = int64(st.uid)
	r.GID = int64(st.gid)
	r.Mode = fileModeString(st.mode)
	// osquery reports st_rdev: the device a character or block special file
	// stands for, 0 for everything else.
	r.Device = st.rdev
	r.Size = st.size
	r.BlockSize = st.blksize
	r.Atime = st.atime
	r.Mtime = st.mtime
	r.Ctime = st.ctime
	r.Btime = st.btime
	r.HardLinks = st.nlink
	r.Type = fileTypeName(st.mode)
	return r, true
}
