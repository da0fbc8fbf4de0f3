package all

import (
	"encoding/json"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosquery/gosquery/internal/table"
	"github.com/gosquery/gosquery/internal/tabletest"
)

// osquerySchema mirrors testdata/osquery-linux-schema.json: osquery's Linux
// tables with their columns, flags and the checks osquery's own integration
// tests apply.
type osquerySchema struct {
	Table         string `json:"table"`
	Evented       bool   `json:"evented"`
	TestedColumns bool   `json:"tested_columns"`
	Columns       []struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		Index      bool   `json:"index"`
		Required   bool   `json:"required"`
		Hidden     bool   `json:"hidden"`
		Additional bool   `json:"additional"`
		Optimized  bool   `json:"optimized"`
		Check      string `json:"check"`
	} `json:"columns"`
}

func loadSchema(t *testing.T) map[string]osquerySchema {
	t.Helper()
	b, err := os.ReadFile("testdata/osquery-linux-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var list []osquerySchema
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	m := make(map[string]osquerySchema, len(list))
	for _, s := range list {
		m[s.Table] = s
	}
	return m
}

// gosqueryTables are tables osquery does not have. They still follow the
// registry rules, but have no reference schema.
var gosqueryTables = map[string]bool{
	"process_ancestry":             true,
	"process_ancestry_cache_stats": true,
	"audit_status":                 true,
}

// extraColumns are columns gosquery adds to an osquery table, appended after
// osquery's own so that positional consumers still line up.
var extraColumns = map[string][]string{
	"process_events": {"ancestry", "ancestry_complete", "original_parent"},
}

// visibleExtras are the extra columns SELECT * shows (the product
// description's ancestry); every other extra is hidden, so SELECT * stays
// what osquery returns plus ancestry.
var visibleExtras = map[string]bool{"process_events.ancestry": true}

// TestSchemaMatchesOsquery compares every registered table with osquery's:
// column names in order, types, and the index/required/hidden/additional/
// optimized flags.
func TestSchemaMatchesOsquery(t *testing.T) {
	ref := loadSchema(t)
	defs := table.Default.All()
	if len(defs) == 0 {
		t.Fatal("no tables registered")
	}
	for _, d := range defs {
		spec := d.Spec
		r, ok := ref[spec.Name]
		if !ok {
			if !gosqueryTables[spec.Name] {
				t.Errorf("table %s is not an osquery Linux table and not a known gosquery table", spec.Name)
			}
			continue
		}
		if r.Evented != (spec.Attributes&table.EventSubscriber != 0) {
			t.Errorf("%s: evented=%v in osquery", spec.Name, r.Evented)
		}
		want := len(r.Columns) + len(extraColumns[spec.Name])
		if len(spec.Columns) != want {
			t.Errorf("%s: %d columns, osquery has %d (+%d gosquery)", spec.Name, len(spec.Columns), len(r.Columns), len(extraColumns[spec.Name]))
		}
		for i, c := range spec.Columns {
			if i >= len(r.Columns) {
				extra := extraColumns[spec.Name]
				if k := i - len(r.Columns); k >= len(extra) || extra[k] != c.Name {
					t.Errorf("%s: unexpected extra column %s", spec.Name, c.Name)
				}
				if hidden := c.Flags&table.Hidden != 0; hidden == visibleExtras[spec.Name+"."+c.Name] {
					t.Errorf("%s: extra column %s hidden=%v", spec.Name, c.Name, hidden)
				}
				continue
			}
			rc := r.Columns[i]
			if c.Name != rc.Name {
				t.Errorf("%s: column %d is %s, osquery has %s", spec.Name, i, c.Name, rc.Name)
				continue
			}
			if c.Type.String() != rc.Type {
				t.Errorf("%s.%s: type %s, osquery has %s", spec.Name, c.Name, c.Type, rc.Type)
			}
			flagsEqual := func(name string, got, want bool) {
				if got != want {
					t.Errorf("%s.%s: %s=%v, osquery has %v", spec.Name, c.Name, name, got, want)
				}
			}
			flagsEqual("index", c.Flags&table.Index != 0, rc.Index)
			flagsEqual("required", c.Flags&table.Required != 0, rc.Required)
			flagsEqual("hidden", c.Flags&table.Hidden != 0, rc.Hidden)
			flagsEqual("additional", c.Flags&table.Additional != 0, rc.Additional)
			flagsEqual("optimized", c.Flags&table.Optimized != 0, rc.Optimized)
		}
	}
}

// sampleQueries give tables with required columns something to generate.
var sampleQueries = map[string]string{
	"file": "select * from file where path = '/etc/passwd' or (directory = '/etc' and type = 'regular')",
	"hash": "select * from hash where path = '/etc/passwd'",
}

// TestColumnChecks runs SELECT * on every table whose columns osquery's
// integration tests check, and applies the same checks to the real rows.
func TestColumnChecks(t *testing.T) {
	ref := loadSchema(t)
	env := tabletest.HostEnv(t)
	boot := bootTime(t)
	for _, d := range table.Default.All() {
		r, ok := ref[d.Spec.Name]
		if !ok || r.Evented {
			continue
		}
		checks := map[string]string{}
		for _, c := range r.Columns {
			if c.Check != "" {
				checks[c.Name] = c.Check
			}
		}
		if len(checks) == 0 && !r.TestedColumns {
			continue
		}
		t.Run(d.Spec.Name, func(t *testing.T) {
			sql := sampleQueries[d.Spec.Name]
			if sql == "" {
				sql = "select * from " + d.Spec.Name
			}
			rows := tabletest.Query(t, env, sql)
			if r.TestedColumns {
				var want []string
				for _, c := range r.Columns {
					if !c.Hidden {
						want = append(want, c.Name)
					}
				}
				if len(rows) > 0 {
					row := rows[0]
					if len(row) != len(want) {
						t.Errorf("SELECT * returned %d columns, osquery's test wants %d", len(row), len(want))
					}
					for _, w := range want {
						if _, ok := row[w]; !ok {
							t.Errorf("SELECT * lacks column %s", w)
						}
					}
				}
			}
			for i, row := range rows {
				for col, check := range checks {
					v, ok := row[col]
					if !ok {
						continue
					}
					if v == tabletest.Null {
						v = ""
					}
					if err := applyCheck(d.Spec.Name, col, check, v, boot); err != "" {
						t.Errorf("row %d: %s = %q fails %s: %s", i, col, v, check, err)
					}
				}
			}
		})
	}
}

func bootTime(t *testing.T) time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return time.Unix(n, 0)
		}
	}
	t.Fatal("no btime")
	return time.Time{}
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// applyCheck implements osquery's value checks (see the schema README);
// "custom" checks get a per-column rule where the meaning is clear.
func applyCheck(tbl, col, check, v string, boot time.Time) string {
	// osquery's test calls kernel_modules.address a non-negative integer,
	// but the table (osquery's and ours) reports the kernel's hex address.
	if tbl == "kernel_modules" && col == "address" {
		if _, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64); err != nil || !strings.HasPrefix(v, "0x") {
			return "not a 0x hex address"
		}
		return ""
	}
	isInt := func(s string) bool { _, err := strconv.ParseInt(s, 10, 64); return err == nil }
	switch check {
	case "NormalType", "":
		return ""
	case "IntType":
		if !isInt(v) {
			return "not an integer"
		}
	case "NonNegativeInt":
		if v == "" {
			return ""
		}
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			return "not a non-negative integer"
		}
	case "NonNegativeOrErrorInt":
		if v == "null" {
			return ""
		}
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < -1 {
			return "not an integer >= -1"
		}
	case "IntOrEmpty":
		if v != "" && v != "null" && !isInt(v) {
			return "not an integer or empty"
		}
	case "NonEmptyString":
		if v == "" || v == "null" {
			return "empty"
		}
	case "NonNull":
		if v == "null" {
			return "null"
		}
	case "Bool":
		if v != "0" && v != "1" {
			return "not 0 or 1"
		}
	case "Bool | EmptyOk":
		if v != "" && v != "0" && v != "1" {
			return "not 0, 1 or empty"
		}
	case "FileOnDisk":
		if st, err := os.Stat(v); err != nil || !st.Mode().IsRegular() {
			return "not a regular file"
		}
	case "DirectoryOnDisk":
		if st, err := os.Stat(v); err != nil || !st.IsDir() {
			return "not a directory"
		}
	case "ValidUUID":
		if !uuidRE.MatchString(v) {
			return "not a UUID"
		}
	case "custom":
		return customCheck(tbl, col, v, boot)
	default:
		return "unknown check " + check
	}
	return ""
}

func customCheck(tbl, col, v string, boot time.Time) string {
	n, nerr := strconv.ParseInt(v, 10, 64)
	inRange := func(lo, hi int64) string {
		if nerr != nil || n < lo || n > hi {
			return "out of range"
		}
		return ""
	}
	switch tbl + "." + col {
	case "processes.start_time":
		// -1 when unknown; otherwise between boot and now.
		if nerr == nil && (n == -1 || (n >= boot.Unix()-1 && n <= time.Now().Unix()+1)) {
			return ""
		}
		return "not a time between boot and now"
	case "time.month":
		return inRange(1, 12)
	case "time.day":
		return inRange(1, 31)
	case "time.hour", "uptime.hours":
		return inRange(0, 23)
	case "time.minutes", "time.seconds", "uptime.minutes", "uptime.seconds":
		return inRange(0, 60)
	case "routes.destination", "routes.source":
		if v != "" && net.ParseIP(v) == nil {
			return "not an IP address"
		}
	case "routes.netmask":
		return inRange(0, 128)
	case "routes.hopcount":
		return inRange(0, 255)
	case "routes.type":
		switch v {
		case "local", "remote", "gateway", "other", "unicast", "broadcast", "anycast", "multicast", "blackhole", "unreachable", "prohibit", "throw", "nat", "xresolve", "unspec":
			return ""
		}
		return "unknown route type"
	}
	if strings.HasSuffix(col, "uid") || strings.HasSuffix(col, "gid") {
		if nerr != nil || n < -2 {
			return "uid/gid below -2"
		}
	}
	if strings.Contains(col, "mac") && v != "" {
		if _, err := net.ParseMAC(v); err != nil {
			return "not a MAC address"
		}
	}
	return ""
}
