package audit

// Golden tests on real datagrams captured from the kernel into testdata/
// by the kernel tests (go test -update as root rewrites both the captures
// and the golden files). They run unprivileged.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type capture struct {
	comments []string
	marker   string
	dgrams   [][]byte
}

func loadCapture(t *testing.T, name string) capture {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".hex"))
	if err != nil {
		t.Fatalf("%v (capture it with `go test -run TestKernel -update` as root)", err)
	}
	defer f.Close()
	var c capture
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			c.comments = append(c.comments, rest)
			if m, ok := strings.CutPrefix(rest, "marker: "); ok {
				c.marker = m
			}
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.dgrams = append(c.dgrams, b)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

// goldenEvent is what the golden files record per event.
type goldenEvent struct {
	ID         string
	Incomplete bool
	Types      []uint16
	Exec       *goldenExec `json:",omitempty"`
}

type goldenExec struct {
	Exec
	Time string // UTC, so the file does not depend on the time zone
}

func replay(t *testing.T, c capture) ([]Event, []goldenEvent) {
	t.Helper()
	var evs []Event
	r := NewReassembler(ReassemblerConfig{}, func(ev Event) { evs = append(evs, ev) })
	now := time.Unix(1795742958, 0)
	for i, d := range c.dgrams {
		recs, errs := ParseMessages(d)
		if errs != 0 {
			t.Errorf("datagram %d: %d parse errors", i, errs)
		}
		for _, rec := range recs {
			r.Push(rec, now)
		}
	}
	r.Flush()
	var out []goldenEvent
	for _, ev := range evs {
		g := goldenEvent{ID: ev.ID(), Incomplete: ev.Incomplete}
		for _, rec := range ev.Records {
			g.Types = append(g.Types, rec.Type)
		}
		if x, ok := DecodeExec(ev); ok {
			g.Exec = &goldenExec{Exec: x, Time: x.Time.UTC().Format(time.RFC3339Nano)}
			g.Exec.Exec.Time = time.Time{}
		}
		out = append(out, g)
	}
	return evs, out
}

func checkGolden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs from %s:\n%s", name, path, b)
	}
}

func nlmsgLen(d []byte) int { return int(binary.LittleEndian.Uint32(d)) }

func TestCapturedExecEvents(t *testing.T) {
	for _, name := range []string{"exec_unicast", "exec_multicast", "execve_multirecord", "exec_b32", "exec_failed"} {
		t.Run(name, func(t *testing.T) {
			c := loadCapture(t, name)
			if len(c.dgrams) < 3 {
				t.Fatalf("%d datagrams", len(c.dgrams))
			}
			for i, d := range c.dgrams {
				switch {
				case name == "exec_unicast" && nlmsgLen(d) != len(d)-16:
					t.Errorf("datagram %d: not unicast framing (nlmsg_len %d, %d bytes)", i, nlmsgLen(d), len(d))
				case name == "exec_multicast" && nlmsgLen(d) != len(d):
					t.Errorf("datagram %d: not multicast framing", i)
				}
				// The standard library's parser rejects the unicast quirk;
				// ours must not.
				if msgs, err := ParseDatagram(d); err != nil || len(msgs) != 1 {
					t.Errorf("datagram %d: %d messages, %v", i, len(msgs), err)
				}
			}
			evs, golden := replay(t, c)
			if len(evs) != 1 || evs[0].Incomplete {
				t.Fatalf("%d events: %+v", len(golden), golden)
			}
			checkGolden(t, name, golden)
			x, ok := DecodeExec(evs[0])
			if name == "exec_failed" {
				sc, _ := evs[0].First(TypeSyscall)
				if ok || sc.Decoded("success") != "no" || sc.Decoded("exit") != "-2" {
					t.Errorf("failed exec: ok=%v %v", ok, sc.Fields())
				}
				if _, has := evs[0].First(TypeExecve); has {
					t.Error("failed exec with an EXECVE record")
				}
				return
			}
			if !ok || len(x.Argv) < 2 || x.Argv[0] != "/bin/true" || x.Argv[1] != c.marker || x.ArgvIncomplete {
				t.Fatalf("exec %v %+v", ok, x.Argv[:min(3, len(x.Argv))])
			}
			if x.Exe != "/usr/bin/true" || x.Mode != "0100755" || !x.HasPath || x.Cwd == "" || strings.Contains(x.Cwd, `"`) || x.Comm != "true" {
				t.Errorf("exec %+v", x)
			}
			wantArch := ArchX86_64
			if name == "exec_b32" {
				wantArch = ArchI386
			}
			if x.Arch != wantArch || x.Syscall != "execve" {
				t.Errorf("arch %v syscall %s", x.Arch, x.Syscall)
			}
			if name == "execve_multirecord" {
				n := 0
				for _, r := range evs[0].Records {
					if r.Type == TypeExecve {
						n++
					}
				}
				want := append([]string{"/bin/true", c.marker, strings.Repeat("chunk ", 1500)}, make([]string, 400)...)
				for i := range 400 {
					want[3+i] = "a" + strconv.Itoa(i)
				}
				if n < 2 || !slices.Equal(x.Argv, want) {
					t.Errorf("%d EXECVE records, argv of %d", n, len(x.Argv))
				}
			}
		})
	}
}

func TestCapturedGetExchange(t *testing.T) {
	b, err := os.ReadFile("testdata/audit_get.hex")
	if err != nil {
		t.Fatal(err)
	}
	var sent, recv [][]byte
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		dir, h, _ := strings.Cut(line, " ")
		d, err := hex.DecodeString(h)
		switch {
		case dir == "#":
			continue
		case err != nil:
			t.Fatal(err)
		case dir == ">":
			sent = append(sent, d)
		default:
			recv = append(recv, d)
		}
	}
	if len(sent) != 1 || len(recv) != 2 {
		t.Fatalf("%d sent, %d received", len(sent), len(recv))
	}
	req, _ := ParseDatagram(sent[0])
	if len(req) != 1 || req[0].Type != unix.AUDIT_GET || req[0].Flags != unix.NLM_F_REQUEST|unix.NLM_F_ACK {
		t.Fatalf("request %+v", req)
	}
	// First the ACK (error 0, capped, echoing our header), then the reply.
	ack, err := ParseDatagram(recv[0])
	if err != nil || len(ack) != 1 || ack[0].Type != unix.NLMSG_ERROR || ack[0].Seq != req[0].Seq || binary.LittleEndian.Uint32(ack[0].Data) != 0 || len(recv[0]) != 36 {
		t.Fatalf("ack %+v %v", ack, err)
	}
	rep, err := ParseDatagram(recv[1])
	if err != nil || len(rep) != 1 || rep[0].Type != unix.AUDIT_GET || rep[0].Seq != req[0].Seq || len(rep[0].Data) != StatusSize {
		t.Fatalf("reply %+v %v", rep, err)
	}
	st, err := ParseStatus(rep[0].Data)
	if err != nil || st.FeatureBitmap != 0x7f || st.Failure != FailurePrintk {
		t.Errorf("status %v %v", st, err)
	}
	if !bytes.Equal(encodeRequest(unix.AUDIT_GET, unix.NLM_F_REQUEST|unix.NLM_F_ACK, req[0].Seq, nil), sent[0]) {
		t.Error("our request encoding changed")
	}
}

func TestCapturedReplace(t *testing.T) {
	c := loadCapture(t, "replace")
	for _, d := range c.dgrams {
		msgs, err := ParseDatagram(d)
		if err != nil || len(msgs) != 1 || msgs[0].Type != TypeReplace || len(msgs[0].Data) != 4 || nlmsgLen(d) != len(d) {
			t.Fatalf("%+v %v", msgs, err)
		}
		if recs, errs := ParseMessages(d); len(recs) != 0 || errs != 0 {
			t.Errorf("AUDIT_REPLACE parsed as %d records, %d errors", len(recs), errs)
		}
	}
}

// BenchmarkExecPipeline is the per-exec work of the audit reader on a real
// captured exec: parse every datagram, reassemble by serial, decode the
// exec. Under an exec storm this runs once per process.
func BenchmarkExecPipeline(b *testing.B) {
	t := &testing.T{}
	c := loadCapture(t, "exec_unicast")
	now := time.Unix(1795742958, 0)
	var n int
	r := NewReassembler(ReassemblerConfig{}, func(ev Event) {
		if _, ok := DecodeExec(ev); ok {
			n++
		}
	})
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range c.dgrams {
			recs, _ := ParseMessages(d)
			for _, rec := range recs {
				r.Push(rec, now)
			}
		}
	}
	r.Flush()
	if n == 0 {
		b.Fatal("no exec decoded")
	}
}
