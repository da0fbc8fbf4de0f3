package system

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

// shellHistoryParse runs the parser over a whole file, as time|command.
func shellHistoryParse(b []byte) []string {
	var p shellHistoryParser
	var out []string
	acctLines(b, func(l []byte) {
		if tm, cmd, ok := p.line(l); ok {
			ts := "NULL"
			if tm.Valid {
				ts = strconv.FormatInt(tm.Int, 10)
			}
			out = append(out, ts+"|"+cmd)
		}
	})
	return out
}

// TestParseShellHistoryMatchesOsqueryRegex compares the hand-written
// matcher with osquery's two regular expressions run by std::regex
// (testdata/shell_history/regex_reference.cpp made the .expected files).
func TestParseShellHistoryMatchesOsqueryRegex(t *testing.T) {
	for _, name := range []string{"bash_history", "zsh_history"} {
		b, err := os.ReadFile("testdata/shell_history/" + name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile("testdata/shell_history/" + name + ".expected")
		if err != nil {
			t.Fatal(err)
		}
		acctCompareLines(t, shellHistoryParse(b), strings.Split(strings.TrimSuffix(string(want), "\n"), "\n"))
	}
}

func TestShellHistoryZshEdges(t *testing.T) {
	cases := map[string]string{
		": 1:0;x":                    "1|x",
		":1:0;x":                     "1|x",
		":          1:0;ten spaces":  "1|ten spaces",
		":           1:0;eleven":     "",
		": 12345678901:0;11 digits":  "12345678901|11 digits",
		": 123456789012:0;12 digits": "",
		": 1:;no elapsed":            "",
		": :0;no time":               "",
		": 1:0":                      "",
		": 1:0;;;":                   "1|;;",
		":":                          "",
	}
	for in, want := range cases {
		ts, cmd, ok := shellHistoryZsh([]byte(in))
		got := ""
		if ok {
			got = ts + "|" + cmd
		}
		if got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestShellHistoryFixture(t *testing.T) {
	env, _ := acctFixture(t)
	rows := tabletest.Query(t, env, "select * from shell_history where uid = 1101")
	byFile := map[string][]string{}
	var order []string
	for _, r := range rows {
		if r["uid"] != "1101" {
			t.Errorf("row %v", r)
		}
		f := r["history_file"]
		if len(byFile[f]) == 0 {
			order = append(order, f)
		}
		tm := r["time"]
		if tm == tabletest.Null {
			tm = "NULL"
		}
		byFile[f] = append(byFile[f], tm+"|"+r["command"])
	}
	// .sh_history is a FIFO (skipped); .zhistory is an absolute symlink to
	// alice's file, resolved inside the root; hidden and non-.history
	// session files are not read.
	wantOrder := []string{"/home/bob/.bash_history", "/home/bob/.zhistory", "/home/bob/.bash_sessions/A1.history", "/home/bob/.bash_sessions/B2.history"}
	if strings.Join(order, " ") != strings.Join(wantOrder, " ") {
		t.Errorf("files: %q, want %q", order, wantOrder)
	}
	for file, golden := range map[string]string{"/home/bob/.bash_history": "bash_history", "/home/bob/.zhistory": "zsh_history"} {
		want, _ := os.ReadFile("testdata/shell_history/" + golden + ".expected")
		acctCompareLines(t, byFile[file], strings.Split(strings.TrimSuffix(string(want), "\n"), "\n"))
	}
	if got := byFile["/home/bob/.bash_sessions/A1.history"]; len(got) != 1 || got[0] != "0|session a1" {
		t.Errorf("session file: %q", got)
	}
	// IN lists are handed over whole (uid is optimized).
	rows = tabletest.Query(t, env, "select distinct uid from shell_history where uid in (1100, 1101, 5)")
	if len(rows) != 2 {
		t.Errorf("uid IN: %v", rows)
	}
	rows = tabletest.Query(t, env, "select time, command from shell_history where uid = 1100 and command like 'sleep%'")
	if len(rows) != 1 || rows[0]["time"] != "1700000005" {
		t.Errorf("zsh row: %v", rows)
	}
	if os.Getuid() == 0 {
		// Without uid, only our own account: root (and toor, same home).
		rows = tabletest.Query(t, env, "select uid, command, history_file from shell_history")
		if len(rows) != 2 || rows[0]["command"] != "whoami" || rows[0]["history_file"] != "/root/.bash_history" {
			t.Errorf("default user: %v", rows)
		}
	}
}

// TestShellHistoryLongLine checks that a huge line is cut, not loaded.
func TestShellHistoryLongLine(t *testing.T) {
	env, dir := acctFixture(t)
	long := bytes.Repeat([]byte("y"), 3*acctMaxLine)
	data := append(append([]byte("#1700000000\n"), long...), "\nafter\n"...)
	if err := os.WriteFile(filepath.Join(dir, "home/bob/.bash_history"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	rows := tabletest.Query(t, env, "select time, length(command) as n, command from shell_history where uid = 1101 and history_file = '/home/bob/.bash_history'")
	if len(rows) != 2 || rows[0]["time"] != "1700000000" || rows[0]["n"] != strconv.Itoa(acctMaxLine) || rows[1]["command"] != "after" {
		t.Errorf("got %d rows: %v %v", len(rows), rows[0]["n"], rows[len(rows)-1]["command"])
	}
}

// TestShellHistoryLive recounts the host's history files for every uid
// in /etc/passwd and compares with the table.
func TestShellHistoryLive(t *testing.T) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Skip(err)
	}
	wantByUID := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) < 7 || !strings.HasPrefix(f[5], "/") {
			continue
		}
		if _, ok := wantByUID[f[2]]; !ok {
			wantByUID[f[2]] = 0
		}
		for _, name := range shellHistoryFiles {
			fh, err := os.Open(filepath.Join(f[5], name))
			if err != nil {
				continue
			}
			if st, err := fh.Stat(); err != nil || !st.Mode().IsRegular() {
				fh.Close()
				continue
			}
			var p shellHistoryParser
			sc := bufio.NewScanner(fh)
			sc.Buffer(make([]byte, 1<<20), 1<<22)
			for sc.Scan() {
				if _, _, ok := p.line(sc.Bytes()); ok {
					wantByUID[f[2]]++
				}
			}
			fh.Close()
		}
	}
	for uid, want := range wantByUID {
		rows := tabletest.Query(t, tabletest.HostEnv(t), "select uid from shell_history where uid = "+uid)
		// Histories grow while we run; never shrink.
		if len(rows) < want {
			t.Errorf("uid %s: %d rows, files have %d commands", uid, len(rows), want)
		}
	}
}

func FuzzParseShellHistory(f *testing.F) {
	for _, n := range []string{"bash_history", "zsh_history"} {
		if b, err := os.ReadFile("testdata/shell_history/" + n); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("#1\n#2\n: 3:0;x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lines := bytes.Count(b, []byte{'\n'}) + 1
		rows := shellHistoryParse(b)
		if len(rows) > lines {
			t.Fatalf("%d rows from %d lines", len(rows), lines)
		}
		for _, r := range rows {
			if strings.Contains(r, "\n") {
				t.Fatalf("row spans lines: %q", r)
			}
		}
	})
}
