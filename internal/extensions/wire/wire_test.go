package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/gosquery/gosquery/internal/extensions/gen/osquery"
)

// echoManager answers every call with what it was sent, so the tests see
// decoded arguments.
type echoManager struct{}

func (echoManager) Ping(context.Context) (*osquery.ExtensionStatus, error) {
	return &osquery.ExtensionStatus{Message: "pong"}, nil
}
func (echoManager) Call(_ context.Context, reg, item string, req osquery.ExtensionPluginRequest) (*osquery.ExtensionResponse, error) {
	return &osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{Message: reg + "/" + item}, Response: []map[string]string{req}}, nil
}
func (echoManager) Shutdown(context.Context) error { return nil }
func (echoManager) Extensions(context.Context) (osquery.InternalExtensionList, error) {
	return osquery.InternalExtensionList{}, nil
}
func (echoManager) Options(context.Context) (osquery.InternalOptionList, error) {
	return osquery.InternalOptionList{}, nil
}
func (echoManager) RegisterExtension(_ context.Context, info *osquery.InternalExtensionInfo, _ osquery.ExtensionRegistry) (*osquery.ExtensionStatus, error) {
	// A call without the struct arrives as nil (the generated getters do
	// not check for it).
	if info == nil {
		return &osquery.ExtensionStatus{Code: 1}, nil
	}
	return &osquery.ExtensionStatus{Message: info.Name}, nil
}
func (echoManager) DeregisterExtension(context.Context, osquery.ExtensionRouteUUID) (*osquery.ExtensionStatus, error) {
	return &osquery.ExtensionStatus{}, nil
}
func (echoManager) Query(_ context.Context, sql string) (*osquery.ExtensionResponse, error) {
	return &osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{Message: sql}}, nil
}
func (echoManager) GetQueryColumns(context.Context, string) (*osquery.ExtensionResponse, error) {
	return &osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{}}, nil
}

// process runs the processor over data as one connection would.
func process(data []byte, lim Limits) error {
	in := thrift.NewTMemoryBufferLen(len(data))
	in.Write(data)
	out := thrift.NewTMemoryBuffer()
	proc := osquery.NewExtensionManagerProcessor(echoManager{})
	ip := newProtocol(in, lim)
	op := thrift.NewTBinaryProtocolConf(out, lim.config())
	for range 16 {
		if _, err := proc.Process(context.Background(), ip, op); err != nil {
			return err
		}
	}
	return nil
}

func header(name string) []byte {
	b := []byte{0x80, 0x01, 0x00, 0x01}
	b = binary.BigEndian.AppendUint32(b, uint32(len(name)))
	b = append(b, name...)
	return binary.BigEndian.AppendUint32(b, 1)
}

func TestOversizedInputIsRefusedBeforeAllocation(t *testing.T) {
	cases := map[string][]byte{
		"100 MB string": append(header("query"), 11, 0, 1, 0x06, 0x40, 0, 0),
		"huge map":      append(header("call"), 13, 0, 3, 11, 11, 0x40, 0, 0, 0),
		"huge list":     append(header("registerExtension"), 13, 0, 2, 11, 13, 0, 0, 0, 1, 0, 0, 0, 1, 't', 11, 15, 0, 0, 0, 1, 0, 0, 0, 1, 'x', 15, 13, 0x10, 0, 0, 0),
		"long name":     {0x7f, 0xff, 0xff, 0xff},
		"negative size": append(header("query"), 11, 0, 1, 0xff, 0xff, 0xff, 0xf0),
	}
	for name, data := range cases {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := process(data, ServerLimits(0))
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
			t.Errorf("%s: allocated %d bytes", name, grew)
		}
	}
}

func TestWellFormedCallsRoundTrip(t *testing.T) {
	dir, _ := os.MkdirTemp("", "wire")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.em")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	srv := NewServer(ln, osquery.NewExtensionManagerProcessor(echoManager{}), ServerOptions{Timeout: time.Second})
	go srv.Serve()
	defer srv.Close()
	c, err := Dial(path, time.Second, ClientLimits(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	r, err := c.Call(ctx, "table", "t", map[string]string{"action": "generate"})
	if err != nil || r.Status.Message != "table/t" || r.Response[0]["action"] != "generate" {
		t.Fatalf("%v %v", r, err)
	}
	// A string over the limit is refused by the server, which closes the
	// connection; the client sees a transport error and is marked broken.
	big := make([]byte, DefaultMaxString+1)
	if _, err := c.Query(ctx, string(big)); err == nil || !c.Broken() {
		t.Fatalf("oversized query: %v", err)
	}
	// The server's idle timeout closes a silent connection, and a pool
	// retries on a fresh one.
	p := NewPool(path, time.Second, ClientLimits(0))
	defer p.Close()
	ping := func() error { return p.Do(func(c *Client) error { _, err := c.Ping(ctx); return err }) }
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := ping(); err != nil {
		t.Fatalf("pool after idle timeout: %v", err)
	}
	// Cancelling the context interrupts a call.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	c2, _ := Dial(path, time.Second, ClientLimits(0))
	defer c2.Close()
	if _, err := c2.Ping(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	srv.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("socket left after Close")
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	os.WriteFile(path, []byte("x"), 0o644)
	if _, err := Listen(path); err == nil {
		t.Fatal("replaced a regular file")
	}
}

// FuzzProcess feeds arbitrary bytes to the ExtensionManager processor
// through the limited protocol: errors are fine, panics and huge
// allocations are not.
func FuzzProcess(f *testing.F) {
	f.Add(append(header("ping"), 0))
	f.Add(append(header("query"), 11, 0, 1, 0, 0, 0, 8, 's', 'e', 'l', 'e', 'c', 't', ' ', '1', 0))
	f.Add(append(header("call"), 13, 0, 3, 11, 11, 0, 0, 0, 1, 0, 0, 0, 1, 'a', 0, 0, 0, 1, 'b', 0))
	f.Add(append(header("registerExtension"), 12, 0, 1, 11, 0, 1, 0, 0, 0, 1, 'n', 0, 0))
	f.Add([]byte{0, 0, 0, 4, 'p', 'i', 'n', 'g', 1, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		process(data, ServerLimits(1<<16))
	})
}
