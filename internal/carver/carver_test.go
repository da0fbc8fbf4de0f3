package carver_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/gosquery/gosquery/internal/carver"
	"github.com/gosquery/gosquery/internal/carver/carvertest"
	"github.com/gosquery/gosquery/internal/remote"
	"github.com/gosquery/gosquery/internal/remote/remotetest"
	"github.com/gosquery/gosquery/internal/sqlengine"
	"github.com/gosquery/gosquery/internal/store"
	_ "github.com/gosquery/gosquery/internal/tables/forensic" // carves
)

const waitFor = 20 * time.Second

// query runs sql on the harness's env with ctx (which may carry a request
// id) and returns the rows as column -> text.
func query(t *testing.T, ctx context.Context, h *carvertest.Harness, sql string) []map[string]string {
	t.Helper()
	rows, err := tryQuery(ctx, h, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return rows
}

func tryQuery(ctx context.Context, h *carvertest.Harness, sql string) ([]map[string]string, error) {
	db, err := sqlengine.Open(h.Env)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	res, err := db.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	for _, r := range res.Rows {
		m := map[string]string{}
		for i, v := range r {
			m[res.Columns[i]] = v.String()
		}
		out = append(out, m)
	}
	return out, nil
}

// untar reads a tar archive into name -> contents.
func untar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			t.Errorf("member %q has type %c", hdr.Name, hdr.Typeflag)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("tar member %q: %v", hdr.Name, err)
		}
		if _, dup := out[hdr.Name]; dup {
			t.Errorf("member %q twice", hdr.Name)
		}
		out[hdr.Name] = data
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// schedule requests a carve and returns its guid.
func schedule(t testing.TB, c *carver.Carver, ctx context.Context, paths []string) string {
	t.Helper()
	rec, err := c.Schedule(ctx, paths)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != carver.StatusScheduled || rec.GUID == "" || rec.Size != -1 {
		t.Fatalf("scheduled record %+v", rec)
	}
	return rec.GUID
}

// member is the name a path gets in the archive.
func member(p string) string { return strings.TrimPrefix(p, "/") }

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7+i/251)
	}
	return b
}

// carveOf returns the upload the server received for carve guid.
func carveOf(t *testing.T, srv *remotetest.Server, guid string) *remotetest.Carve {
	t.Helper()
	for _, c := range srv.Carves() {
		if c.ID == guid {
			return c
		}
	}
	t.Fatalf("server has no carve %s", guid)
	return nil
}

// TestTableCarveTwoFiles is the Fleet flow: a distributed query asks the
// carves table for a carve; the archive arrives whole, in blocks, with the
// query's request id, and the record ends SUCCESS with its size and hash.
func TestTableCarveTwoFiles(t *testing.T) {
	h := carvertest.Start(t, carvertest.Options{})
	dir := t.TempDir()
	a, b := pattern(20000, 1), []byte("second file\n")
	writeFile(t, filepath.Join(dir, "a.bin"), a)
	writeFile(t, filepath.Join(dir, "b.txt"), b)

	ctx := remote.WithRequestID(context.Background(), "q1")
	rows := query(t, ctx, h, "select * from carves where path like '"+dir+"/%' and carve=1")
	if len(rows) != 1 {
		t.Fatalf("rows %v", rows)
	}
	row := rows[0]
	wantPath := filepath.Join(dir, "a.bin") + "," + filepath.Join(dir, "b.txt")
	if row["carve"] != "1" || row["status"] != carver.StatusScheduled || row["path"] != wantPath ||
		row["request_id"] != "q1" || row["size"] != "-1" || row["sha256"] != "" || row["carve_guid"] == "" {
		t.Fatalf("new carve row %v", row)
	}
	if row["time"] != "1750000000" {
		t.Errorf("time %s, want the clock's", row["time"])
	}
	guid := row["carve_guid"]
	rec := h.Wait(t, guid, waitFor)
	if rec.Status != carver.StatusSuccess {
		t.Fatalf("record %+v", rec)
	}

	up := carveOf(t, h.Server, guid)
	if !up.Complete {
		t.Fatalf("upload incomplete: %d of %d blocks", len(up.Blocks), up.BlockCount)
	}
	data := up.Data()
	if up.RequestID != "q1" || up.BlockSize != 8192 || up.Size != len(data) || up.BlockCount != (len(data)+8191)/8192 {
		t.Errorf("upload %s: request %q block size %d size %d (data %d) blocks %d", up.ID, up.RequestID, up.BlockSize, up.Size, len(data), up.BlockCount)
	}
	if up.BlockCount < 3 {
		t.Errorf("%d blocks: the test wants several", up.BlockCount)
	}
	if rec.Size != int64(len(data)) || rec.SHA256 != sha(data) {
		t.Errorf("record size %d sha256 %s, upload %d %s", rec.Size, rec.SHA256, len(data), sha(data))
	}
	files := untar(t, data)
	if len(files) != 2 || !bytes.Equal(files[member(filepath.Join(dir, "a.bin"))], a) || !bytes.Equal(files[member(filepath.Join(dir, "b.txt"))], b) {
		t.Errorf("archive members %v", slices.Collect(mapKeys(files)))
	}

	// The wire: osquery's start body, block bodies without node_key.
	starts := h.Server.Requests(remotetest.CarveBeginPath)
	if len(starts) != 1 {
		t.Fatalf("%d start requests", len(starts))
	}
	if got := strings.Join(remotetest.Keys(starts[0].Body), ","); got != "block_count,block_size,carve_id,carve_size,node_key,request_id" {
		t.Errorf("start body keys %s", got)
	}
	if remotetest.NodeKeyOf(starts[0]) == "" || starts[0].Body["carve_id"] != guid {
		t.Errorf("start body %v", starts[0].Body)
	}
	blocks := h.Server.Requests(remotetest.CarveBlockPath)
	if len(blocks) != up.BlockCount {
		t.Errorf("%d block requests for %d blocks", len(blocks), up.BlockCount)
	}
	for i, r := range blocks {
		if got := strings.Join(remotetest.Keys(r.Body), ","); got != "block_id,data,request_id,session_id" {
			t.Errorf("block body keys %s", got)
		}
		if r.Body["block_id"] != float64(i) || r.Body["session_id"] != up.SessionID || r.Body["request_id"] != "q1" {
			t.Errorf("block %d body %v", i, r.Body["block_id"])
		}
	}

	// Listing shows the finished carve, and carve = 0 on it.
	rows = query(t, context.Background(), h, "select * from carves")
	if len(rows) != 1 || rows[0]["status"] != carver.StatusSuccess || rows[0]["carve"] != "0" ||
		rows[0]["sha256"] != sha(data) || rows[0]["size"] != strconv.Itoa(len(data)) || rows[0]["carve_guid"] != guid {
		t.Errorf("listing %v", rows)
	}
	if ents := h.TempEntries(t); len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
	if len(h.Server.Carves()) != 1 {
		t.Errorf("%d uploads for one carve", len(h.Server.Carves()))
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestZstdCarve: with --carver_compression the upload is one zstd frame
// of the tar, smaller than the tar, and the record's hash is the upload's.
func TestZstdCarve(t *testing.T) {
	h := carvertest.Start(t, carvertest.Options{Args: []string{"--carver_compression=true", "--carver_block_size=4096"}})
	dir := t.TempDir()
	text := bytes.Repeat([]byte("osquery carves this line again and again\n"), 8000)
	path := filepath.Join(dir, "log.txt")
	writeFile(t, path, text)
	rows := query(t, context.Background(), h, "select carve_guid, request_id from carves where path = '"+path+"' and carve = 1")
	if len(rows) != 1 {
		t.Fatalf("rows %v", rows)
	}
	// Outside a distributed query the request id is a fresh UUID.
	if len(rows[0]["request_id"]) != 36 {
		t.Errorf("request_id %q", rows[0]["request_id"])
	}
	rec := h.Wait(t, rows[0]["carve_guid"], waitFor)
	if rec.Status != carver.StatusSuccess {
		t.Fatalf("record %+v", rec)
	}
	data := carveOf(t, h.Server, rec.GUID).Data()
	if len(data) < 4 || !bytes.Equal(data[:4], []byte{0x28, 0xB5, 0x2F, 0xFD}) {
		t.Fatalf("upload starts % x, not the zstd magic", data[:min(4, len(data))])
	}
	if binary.LittleEndian.Uint32(data) != 0xFD2FB528 {
		t.Fatal("magic")
	}
	if rec.SHA256 != sha(data) || rec.Size != int64(len(data)) {
		t.Errorf("record %d %s, upload %d %s", rec.Size, rec.SHA256, len(data), sha(data))
	}
	if len(data) > len(text)/10 {
		t.Errorf("compressed to %d bytes from %d of repeated text", len(data), len(text))
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	tarData, err := dec.DecodeAll(data, nil)
	if err != nil {
		t.Fatalf("decompress: %v", err)
	}
	files := untar(t, tarData)
	if len(files) != 1 || !bytes.Equal(files[member(path)], text) {
		t.Errorf("archive members %v", slices.Collect(mapKeys(files)))
	}
	t.Run("zstd tool", func(t *testing.T) {
		tool, err := exec.LookPath("zstd")
		if err != nil {
			t.Skip("zstd command not installed; decompressed with klauspost/compress only")
		}
		cmd := exec.Command(tool, "-dc")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("zstd -dc: %v", err)
		}
		if !bytes.Equal(out, tarData) {
			t.Errorf("zstd -dc gave %d bytes, decoder %d", len(out), len(tarData))
		}
	})
	if ents := h.TempEntries(t); len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
}

// TestBlockPostFailure: a block the server keeps refusing is tried three
// times with 1 s and 4 s waits, ends the upload and fails the carve.
func TestBlockPostFailure(t *testing.T) {
	h := carvertest.Start(t, carvertest.Options{Args: []string{"--carver_block_size=1024"}})
	h.Server.Handle(remotetest.CarveBlockPath, func(r remotetest.Recorded) (int, []byte) {
		if r.Body["block_id"] == float64(1) {
			return http.StatusInternalServerError, []byte(`{"error":"storage full"}`)
		}
		return http.StatusOK, []byte(`{}`)
	})
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	writeFile(t, path, pattern(5000, 3))
	guid := schedule(t, h.Carver, context.Background(), []string{path})
	rec := h.Wait(t, guid, waitFor)
	if rec.Status != carver.StatusDataPostFailed || !strings.Contains(rec.Error, "block 1") || !strings.Contains(rec.Error, "storage full") {
		t.Fatalf("record %+v", rec)
	}
	var ids []float64
	for _, r := range h.Server.Requests(remotetest.CarveBlockPath) {
		ids = append(ids, r.Body["block_id"].(float64))
	}
	if !slices.Equal(ids, []float64{0, 1, 1, 1}) {
		t.Errorf("blocks sent %v, want 0 then block 1 three times", ids)
	}
	if s := h.Sleeps(); !slices.Equal(s, []time.Duration{time.Second, 4 * time.Second}) {
		t.Errorf("retry waits %v", s)
	}
	rows := query(t, context.Background(), h, "select status from carves where carve_guid = '"+guid+"'")
	if len(rows) != 1 || rows[0]["status"] != "DATA POST FAILED" {
		t.Errorf("rows %v", rows)
	}
	if ents := h.TempEntries(t); len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
}

// TestStartWithoutSession: a start answer without a usable session id
// fails the carve before any block is sent.
func TestStartWithoutSession(t *testing.T) {
	for answer, want := range map[string]string{
		`{}`:                     "No session_id",
		`{"session_id":""}`:      "Empty session_id",
		`{"session_id":7}`:       "Invalid session_id",
		`{"error":"no carving"}`: "no carving",
	} {
		t.Run(answer, func(t *testing.T) {
			h := carvertest.Start(t, carvertest.Options{})
			h.Server.Handle(remotetest.CarveBeginPath, func(remotetest.Recorded) (int, []byte) {
				return http.StatusOK, []byte(answer)
			})
			path := filepath.Join(t.TempDir(), "f")
			writeFile(t, path, []byte("x"))
			guid := schedule(t, h.Carver, context.Background(), []string{path})
			rec := h.Wait(t, guid, waitFor)
			if rec.Status != carver.StatusDataPostFailed || !strings.Contains(rec.Error, want) {
				t.Fatalf("record %+v, want DATA POST FAILED with %q", rec, want)
			}
			if n := len(h.Server.Requests(remotetest.CarveBlockPath)); n != 0 {
				t.Errorf("%d blocks sent without a session", n)
			}
			// The size and hash were recorded before the upload.
			if rec.Size <= 0 || len(rec.SHA256) != 64 {
				t.Errorf("size %d sha256 %q", rec.Size, rec.SHA256)
			}
		})
	}
}

// TestExpiry: a finished record stays carver_expiry seconds after its
// time, then goes; a scheduled carve does not expire.
func TestExpiry(t *testing.T) {
	h := carvertest.Start(t, carvertest.Options{Args: []string{"--carver_expiry=100"}})
	path := filepath.Join(t.TempDir(), "f")
	writeFile(t, path, []byte("data"))
	ctx := context.Background()
	first := schedule(t, h.Carver, ctx, []string{path})
	h.Wait(t, first, waitFor)
	// A failed one, scheduled at the same time.
	h.Server.Handle(remotetest.CarveBeginPath, func(remotetest.Recorded) (int, []byte) { return 200, []byte(`{}`) })
	failed := schedule(t, h.Carver, ctx, []string{path})
	if r := h.Wait(t, failed, waitFor); r.Status != carver.StatusDataPostFailed {
		t.Fatalf("second carve %+v", r)
	}
	h.Server.Handle(remotetest.CarveBeginPath, nil)

	exists := func(guid string) bool {
		_, ok, err := h.Carver.Get(ctx, guid)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	// Each new request wakes Run, whose pass expires before it carves.
	h.Clock.Advance(100 * time.Second)
	kept := schedule(t, h.Carver, ctx, []string{path})
	h.Wait(t, kept, waitFor)
	if !exists(first) || !exists(failed) {
		t.Fatal("records expired at exactly carver_expiry seconds")
	}
	h.Clock.Advance(time.Second)
	latest := schedule(t, h.Carver, ctx, []string{path})
	h.Wait(t, latest, waitFor)
	if exists(first) || exists(failed) {
		t.Error("records older than carver_expiry kept")
	}
	if !exists(kept) || !exists(latest) {
		t.Error("recent records expired")
	}
	rows := query(t, ctx, h, "select carve_guid from carves")
	if len(rows) != 2 {
		t.Errorf("listing after expiry %v", rows)
	}
}

// TestScheduledSurvivesRestart: a carve scheduled while no Run loop was
// going is taken up when one starts, as osquery's runner does at start.
func TestScheduledAtStart(t *testing.T) {
	h := carvertest.Start(t, carvertest.Options{NoRun: true})
	path := filepath.Join(t.TempDir(), "f")
	writeFile(t, path, []byte("before start"))
	guid := schedule(t, h.Carver, context.Background(), []string{path})
	// A second carver on the same store plays the restarted daemon.
	c2 := carver.New(carver.Options{Client: h.Client, Store: h.Store, Flags: h.Flags, TempDir: h.TempDir, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c2.Run(ctx) }()
	defer func() { cancel(); <-done }()
	rec := h.Wait(t, guid, waitFor)
	if rec.Status != carver.StatusSuccess {
		t.Fatalf("record %+v", rec)
	}
	files := untar(t, carveOf(t, h.Server, guid).Data())
	if string(files[member(path)]) != "before start" {
		t.Errorf("archive %v", files)
	}
}

// TestHostileFiles: missing paths, directories, FIFOs, unreadable files,
// symlink loops and names no tar writer likes are left out or stored
// exactly, and never hang or break the carve.
func TestHostileFiles(t *testing.T) {
	h := carvertest.Start(t, carvertest.Options{})
	dir := t.TempDir()
	good := map[string][]byte{
		"new\nline":                []byte("newline in the name"),
		"bad\xff\xfeutf8":          []byte("not UTF-8"),
		"comma,name":               []byte("a comma"),
		strings.Repeat("long", 60): []byte("a 240-byte name"),
		"-dash":                    nil,
		"..dots..":                 []byte("dots"),
	}
	var paths []string
	for name, data := range good {
		p := filepath.Join(dir, name)
		writeFile(t, p, data)
		paths = append(paths, p)
	}
	deep := filepath.Join(dir, strings.Repeat("d", 100), strings.Repeat("e", 100))
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	deepFile := filepath.Join(deep, strings.Repeat("f", 100))
	writeFile(t, deepFile, []byte("path over 255 bytes"))
	good[strings.TrimPrefix(deepFile, dir+"/")] = []byte("path over 255 bytes")
	paths = append(paths, deepFile)
	// A symlink is followed; its member has the link's name.
	target := filepath.Join(dir, "target")
	writeFile(t, target, []byte("link target"))
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	good["link"] = []byte("link target")
	paths = append(paths, link)
	// "/a/../b" is /b.
	paths = append(paths, filepath.Join(dir, "sub")+"/../comma,name")

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	loop := filepath.Join(dir, "loop")
	os.Symlink(loop, loop)
	bad := []string{
		filepath.Join(dir, "missing"),
		dir, // a directory
		fifo,
		loop,
		"/proc/self/mem", // a regular file whose read fails (EIO)
	}
	paths = append(paths, bad...)

	guid := schedule(t, h.Carver, context.Background(), paths)
	rec := h.Wait(t, guid, waitFor)
	if rec.Status != carver.StatusSuccess {
		t.Fatalf("record %+v", rec)
	}
	files := untar(t, carveOf(t, h.Server, guid).Data())
	for name, data := range good {
		got, ok := files[member(filepath.Join(dir, name))]
		if !ok || !bytes.Equal(got, data) {
			t.Errorf("member %q: %q (present %v)", name, got, ok)
		}
	}
	if len(files) != len(good) {
		var names []string
		for n := range files {
			names = append(names, n)
		}
		t.Errorf("%d members, want %d: %q", len(files), len(good), names)
	}
	for _, p := range bad {
		found := slices.ContainsFunc(rec.Skipped, func(s string) bool { return strings.HasPrefix(s, p+": ") })
		if !found {
			t.Errorf("%s not reported as skipped: %q", p, rec.Skipped)
		}
	}
	if len(rec.Skipped) != len(bad) {
		t.Errorf("skipped %q", rec.Skipped)
	}
	// The record keeps every path, commas and all.
	if len(rec.Paths) != len(paths) {
		t.Errorf("record paths %d, requested %d", len(rec.Paths), len(paths))
	}
}

// TestArchiveFailure: a temporary directory the carver cannot write to
// fails the carve at its first step.
func TestCreatePathsFailure(t *testing.T) {
	h := carvertest.Start(t, carvertest.Options{NoRun: true})
	c := carver.New(carver.Options{Client: h.Client, Store: h.Store, Flags: h.Flags,
		TempDir: filepath.Join(t.TempDir(), "does", "not", "exist"), Interval: time.Hour})
	path := filepath.Join(t.TempDir(), "f")
	writeFile(t, path, []byte("x"))
	guid := schedule(t, c, context.Background(), []string{path})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	rec := h.Wait(t, guid, waitFor)
	if rec.Status != carver.StatusCreatePathsFailed {
		t.Fatalf("record %+v", rec)
	}
	if len(h.Server.Requests(remotetest.CarveBeginPath)) != 0 {
		t.Error("upload started")
	}
}

// TestDisabled: with --disable_carver (the default) nothing is scheduled
// and the table says why.
func TestDisabled(t *testing.T) {
	h := carvertest.Start(t, carvertest.Options{Args: []string{"--disable_carver=true"}})
	path := filepath.Join(t.TempDir(), "f")
	writeFile(t, path, []byte("x"))
	if _, err := h.Carver.Schedule(context.Background(), []string{path}); !errors.Is(err, carver.ErrDisabled) {
		t.Errorf("Schedule: %v", err)
	}
	_, err := tryQuery(context.Background(), h, "select * from carves where path = '"+path+"' and carve = 1")
	if err == nil || !strings.Contains(err.Error(), "--disable_carver=false") {
		t.Errorf("table: %v", err)
	}
	n := 0
	h.Store.Scan(context.Background(), store.DomainCarves, "", func(string, []byte) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d carve records while disabled", n)
	}
	if rows := query(t, context.Background(), h, "select * from carves"); len(rows) != 0 {
		t.Errorf("rows %v", rows)
	}
}

// TestShutdownMidUpload: cancelling Run during an upload ends it, marks
// the carve failed and removes the temporary files.
func TestShutdownMidUpload(t *testing.T) {
	h := carvertest.Start(t, carvertest.Options{NoRun: true, Args: []string{"--carver_block_size=512"}})
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	h.Server.Handle(remotetest.CarveBlockPath, func(r remotetest.Recorded) (int, []byte) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		return 200, []byte(`{}`)
	})
	defer close(release)
	path := filepath.Join(t.TempDir(), "f")
	writeFile(t, path, pattern(10000, 9))
	guid := schedule(t, h.Carver, context.Background(), []string{path})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Carver.Run(ctx) }()
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("upload never started")
	}
	if h.Carver.Active() != guid {
		t.Errorf("active %q, want %s", h.Carver.Active(), guid)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("Run did not stop")
	}
	rec, _, _ := h.Carver.Get(context.Background(), guid)
	if rec.Status != carver.StatusDataPostFailed || !strings.Contains(rec.Error, "context canceled") {
		t.Errorf("record %+v", rec)
	}
	if ents := h.TempEntries(t); len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
}
