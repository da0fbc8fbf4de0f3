package system

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gosquery/gosquery/internal/tabletest"
)

func TestParseCrontabLine(t *testing.T) {
	cases := map[string]string{
		"17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly": "|17|*|*|*|*|root cd / && run-parts --report /etc/cron.hourly",
		"@reboot /bin/start --quiet":                                     "@reboot||||||/bin/start --quiet",
		"  0 12 * * mon-fri   echo lunch  ":                              "|0|12|*|*|mon-fri|echo lunch",
		"30 4 * * * echo caf\xe9\r":                                      "|30|4|*|*|*|echo caf\xe9",
		"SHELL=/bin/sh":                                                  "",
		"MAILTO = a@b":                                                   "",
		"1 2 3 4 5":                                                      "",
		"@":                                                              "",
		"# 1 2 3 4 5 cmd":                                                "",
		"   ":                                                            "",
		"":                                                               "",
	}
	for in, want := range cases {
		e, ok := parseCrontabLine(in)
		got := ""
		if ok {
			got = strings.Join([]string{e.Event, e.Minute, e.Hour, e.DayOfMonth, e.Month, e.DayOfWeek, e.Command}, "|")
		}
		if got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestCrontabFixture(t *testing.T) {
	env, dir := acctFixture(t)
	rows := tabletest.Query(t, env, "select *, pid_with_namespace from crontab")
	var got []string
	for _, r := range rows {
		if r["pid_with_namespace"] != "0" {
			t.Errorf("row %v", r)
		}
		got = append(got, strings.Join([]string{r["path"], r["event"], r["minute"], r["hour"], r["day_of_month"], r["month"], r["day_of_week"], r["command"]}, "|"))
	}
	want := []string{
		"/etc/crontab||17|*|*|*|*|root cd / && run-parts --report /etc/cron.hourly",
		"/etc/crontab||25|6|*|*|*|root test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }",
		"/etc/crontab||47|6|*|*|7|root test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.weekly; }",
		"/etc/crontab||52|6|1|*|*|root test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.monthly; }",
		"/etc/cron.d/e2scrub_all||30|3|*|*|0|root test -e /run/systemd/system || SERVICE_MODE=1 /usr/lib/x86_64-linux-gnu/e2fsprogs/e2scrub_all_cron",
		"/etc/cron.d/e2scrub_all||10|3|*|*|*|root test -e /run/systemd/system || SERVICE_MODE=1 /sbin/e2scrub_all -A -r",
		"/var/spool/cron/crontabs/alice|@reboot||||||/home/alice/bin/start-agent --quiet",
		"/var/spool/cron/crontabs/alice|@daily||||||/usr/bin/backup --all",
		"/var/spool/cron/crontabs/alice||*/5|*|*|*|*|/usr/bin/curl -s 'http://example.com/a b'",
		"/var/spool/cron/crontabs/alice||0|12|*|*|mon-fri|echo lunch",
		"/var/spool/cron/crontabs/alice||30|4|*|*|*|echo caf\xe9",
		"/var/spool/cron/crontabs/alice||0|0|*|*|*|echo no newline",
	}
	acctCompareLines(t, got, want)
	if rows := tabletest.Query(t, env, "select command from crontab where event = '@reboot'"); len(rows) != 1 {
		t.Errorf("@reboot: %v", rows)
	}
	// A FIFO in a cron directory is skipped without blocking.
	if err := os.MkdirAll(filepath.Join(dir, "var/spool/cron"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "var/spool/cron/root"), 0o600); err != nil {
		t.Fatal(err)
	}
	if rows := tabletest.Query(t, env, "select * from crontab"); len(rows) != len(want) {
		t.Errorf("with a FIFO: %d rows", len(rows))
	}
	acctFakeProc(t, env, 31337, env.Root)
	env.Root = t.TempDir()
	rows = tabletest.Query(t, env, "select path, pid_with_namespace from crontab where pid_with_namespace = 31337")
	if len(rows) != len(want) || rows[0]["pid_with_namespace"] != "31337" || rows[0]["path"] != "/etc/crontab" {
		t.Errorf("namespace: %d rows %v", len(rows), rows)
	}
	if rows := tabletest.Query(t, env, "select * from crontab"); len(rows) != 0 {
		t.Errorf("empty root: %v", rows)
	}
}

// TestCrontabLive recounts the host's crontab lines with a plain field
// split and compares with the table.
func TestCrontabLive(t *testing.T) {
	files := []string{"/etc/crontab"}
	for _, d := range crontabDirs {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if st, err := os.Stat(filepath.Join(d, e.Name())); err == nil && st.Mode().IsRegular() {
				files = append(files, filepath.Join(d, e.Name()))
			}
		}
	}
	want := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			fields := strings.Fields(l)
			if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
				continue
			}
			if (strings.HasPrefix(fields[0], "@") && len(fields) > 1) || len(fields) > 5 {
				want[f]++
			}
		}
	}
	got := map[string]int{}
	for _, r := range tabletest.Query(t, tabletest.HostEnv(t), "select * from crontab") {
		got[r["path"]]++
		if r["command"] == "" {
			t.Errorf("row without command: %v", r)
		}
	}
	for f, n := range want {
		if got[f] != n {
			t.Errorf("%s: %d rows, %d job lines", f, got[f], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("files with rows %v, want %v", got, want)
	}
}

func FuzzParseCrontabLine(f *testing.F) {
	for _, n := range []string{"crontab", "alice", "e2scrub_all"} {
		if b, err := os.ReadFile("testdata/crontab/" + n); err == nil {
			acctLines(b, func(l []byte) { f.Add(string(l)) })
		}
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, ok := parseCrontabLine(line)
		if !ok {
			return
		}
		if e.Command == "" || strings.HasPrefix(e.Command, " ") || (e.Event != "" && e.Minute != "") {
			t.Fatalf("bad entry %+v", e)
		}
	})
}
