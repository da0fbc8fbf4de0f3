package sqlengine

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

func TestVersionCompare(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		// osquery's own cases (osquery/sql/tests/sql.cpp).
		{"version_compare('1.0', '1.0')", 0},
		{"version_compare('1:2.0-10', '1:2.0-10', 'DPKG')", 0},
		{"version_compare('4:1.1.0', '4:1.1.0-3', 'arCH')", 0},
		{"version_compare('50.4.1b', '50.4.1c')", -1},
		{"version_compare('1.0.8-4', '1.0.8-6', 'arch')", -1},
		{"version_compare('1.0.0~rc2^2021', '1.0.0', 'RHEL')", -1},
		{"version_compare('1.1.0~BETA2^1', '1.1.0~CR1', 'RhEl')", -1},
		{"version_compare('1.0.1.1', '1.0.1^2021', 'rhel')", 1},
		{"version_compare('1.9.9-1ubuntu2.4', '1.9.9-1ubuntu2.3', 'dpkg')", 1},
		{"version_compare('1:1.2.13-2', '4.2.1', 'ARCH')", 1},
		{"version_compare('106.32.1', '106:32.1')", 0},

		// Results are clamped to -1/0/1.
		{"version_compare('1.10', '1.9')", 1},
		{"version_compare('a', 'z')", -1},
		{"version_compare('', '')", 0},
		{"version_compare('', '1')", -1},
		// dpkg semantics for DPKG.
		{"version_compare('1.0~rc1', '1.0', 'DPKG')", -1},
		{"version_compare('1.0', '1.0-0', 'DPKG')", 0},
		{"version_compare('0:1.0', '1.0', 'DPKG')", 0},
		{"version_compare('2:1.0', '1:99.0', 'DPKG')", 1},
		{"version_compare('1.0+dfsg', '1.0+dfsg1', 'DPKG')", -1},

		// Argument checks.
		{"version_compare('1.0')", fnErr("Must provide two version strings to compare.")},
		{"version_compare()", fnErr("Must provide two version strings to compare.")},
		{"version_compare(NULL, '1.0')", fnErr("Must provide two version strings to compare.")},
		{"version_compare(1, '1.0')", fnErr("Must provide two version strings to compare.")},
		{"version_compare('1', '2', 3)", fnErr("The optional third parameter is not a string.")},
		{"version_compare('1', '2', NULL)", fnErr("The optional third parameter is not a string.")},
		{"version_compare('1', '2', 'rpm')", fnErr("The optional third parameter does not match one of: (ARCH, DPKG, RHEL).")},
		{"version_compare('1', '2', 'DPKG', 'ignored')", -1},
	})
}

func TestVersionCollations(t *testing.T) {
	db, _ := fnTestDB(t)
	is := func(expr string) fnCase { return fnCase{expr, 1} }
	fnCheck(t, db, []fnCase{
		// osquery's own cases (osquery/sql/tests/sql.cpp).
		is("'1.0' = '1.0' collate version"),
		is("'1:0.0' = '1.0.0' collate version"),
		is("'2.50^1a' = '2.50~1a' collate version"),
		is("'1.0' < '1.1' collate version"),
		is("'1.1' < '1.a' collate version"),
		is("'50.4.1b' < '50.4.1c' collate version"),
		is("'1.0.0' < '1.0.0-2' collate version"),
		is("'1.0.0-2' < '1:0.0.3' collate version"),
		is("'1.12.1' < '1.13' collate version"),
		is("'1.1' > '1.0' collate version"),
		is("'190.10a' > '20.10a' collate version"),
		is("'20.10a' > '20.102' collate version"),
		is("'57:4' > '6.87.5' collate version"),
		is("'98.100.21-1b' > '98.100.21-1a' collate version"),
		is("'8.11' > '8.10.24' collate version"),

		is("'1.0' = '1.0' collate version_arch"),
		is("'1.0' = '1.0-4' collate version_arch"),
		is("'4:2' = '4:2-1' collate version_arch"),
		is("'1.0' < '1.1' collate version_arch"),
		is("'1.6.1-9' < '1.6.1-10' collate version_arch"),
		is("'20220713-1' < '20221123-1' collate version_arch"),
		is("'2-2pre' < '2-2rc' collate version_arch"),
		is("'2.38-6' < '2.39-4' collate version_arch"),
		is("'1.0.8-4' < '1.0.8-5' collate version_arch"),
		is("'20210603-1' < '20220905-1' collate version_arch"),
		is("'41.1-2' < '43alpha+r8+g1de47dbc-1' collate version_arch"),
		is("'9.1-1' < '9.1-3' collate version_arch"),
		is("'1:42.3.1-1' < '1:43.2-1' collate version_arch"),
		is("'42.3-1' < '43.2-1' collate version_arch"),
		is("'1.1' > '1.0' collate version_arch"),
		is("'3.46.7-1' > '3.44.1-1' collate version_arch"),
		is("'6.0.12.arch1-1' > '5.18.14.arch1-1' collate version_arch"),
		is("'5.6.0-2' > '5.3.0-2' collate version_arch"),
		is("'6.0.2-5' > '6.0.1-5' collate version_arch"),
		is("'3:0.164.r3095.baee400-4' > '3:0.164.r3081.19856cc-2' collate version_arch"),
		is("'2022.2-1' > '2022.1-1' collate version_arch"),
		is("'5.2.9-1' > '5.2.5-3' collate version_arch"),
		is("'42.2-1' > '42.1-2' collate version_arch"),
		is("'0.23.90-1' > '0.23.1-9' collate version_arch"),
		is("'1:1.2.13-2' > '4.2.1' collate version_arch"),

		is("'1.0' = '1.0' collate version_dpkg"),
		is("'1.0-0' = '1.0-0' collate version_dpkg"),
		is("'1:2.0-10' = '1:2.0-10' collate version_dpkg"),
		is("'1.0' < '1.1' collate version_dpkg"),
		is("'22.07.5-2ubuntu1.3' < '22.07.5-2ubuntu1.4' collate version_dpkg"),
		is("'12ubuntu4.2' < '12ubuntu4.3' collate version_dpkg"),
		is("'2.38-4ubuntu2.1' < '2.38-4ubuntu2.2' collate version_dpkg"),
		is("'1.19.2-2ubuntu0.1' < '1.19.2-2ubuntu0.2' collate version_dpkg"),
		is("'2.5.13+dfsg-0ubuntu0.22.04.1' < '2.5.14+dfsg-0ubuntu0.22.04.2' collate version_dpkg"),
		is("'1.1' > '1.0' collate version_dpkg"),
		is("'1.21.1ubuntu2.2' > '1.21.1ubuntu2.1' collate version_dpkg"),
		is("'3.0.2-0ubuntu1.10' > '3.0.2-0ubuntu1.8' collate version_dpkg"),
		is("'5.34.0-3ubuntu1.2' > '5.34.0-3ubuntu1.1' collate version_dpkg"),
		is("'1.9.9-1ubuntu2.4' > '1.9.9-1ubuntu2.3' collate version_dpkg"),
		is("'2:8.2.3995-1ubuntu2.9' > '2:8.2.3995-1ubuntu2.3' collate version_dpkg"),

		is("'1.0' = '1.0' collate version_rhel"),
		is("'0.5.0~rc1^202' = '0.5.0~rc1^202' collate version_rhel"),
		is("'1:1.0.0~rc2' = '1:1.0.0~rc2' collate version_rhel"),
		is("'1.0' < '1.1' collate version_rhel"),
		is("'1.0.0~rc2^2021' < '1.0.0' collate version_rhel"),
		is("'1.0.0' < '1.0.1' collate version_rhel"),
		is("'1.0.1' < '1.0.1^2021' collate version_rhel"),
		is("'1.0.1^2021' < '1.0.1.security1' collate version_rhel"),
		is("'1.0.1' < 'pkg-1.0.1.security1' collate version_rhel"),
		is("'1.1.0~BETA2' < '1.1.0~CR1' collate version_rhel"),
		is("'1.1.0.2021.SP1' < '1.1.0.2021.SP1_CP1' collate version_rhel"),
		is("'9.11.4-26.P2.el7_9.10' < '32:9.11.4-26.P2.el7_9.13' collate version_rhel"),
		is("'1:1.8.0.352.b08-2.el7_9' < '1:1.8.0.372.b07-1.el7_9' collate version_rhel"),
		is("'5.6.0-1.linux' < '5.9.1-1.linux' collate version_rhel"),
		is("'1.1' > '1.0' collate version_rhel"),
		is("'1.0.0~rc2' > '1.0.0~rc1' collate version_rhel"),
		is("'1.0.0' > '1.0.0~rc2' collate version_rhel"),
		is("'1.0.1.security1' > '1.0.0~rc2' collate version_rhel"),
		is("'1.1.0~BETA' > '1.0.1.security1' collate version_rhel"),
		is("'1.1.0~CR1' > '1.1.0~BETA' collate version_rhel"),
		is("'1.1.0.20201001.GA1' > '1.1.0~CR1' collate version_rhel"),
		is("'1.0.0~rc2^20210101gf00fabd' > '1.0.0~rc2' collate version_rhel"),
		is("'1.0.0' > '1.0.0~rc2^20210101gf00fabd' collate version_rhel"),
		is("'1.0.1^20210203gbbbccc0' > '1.0.1' collate version_rhel"),
		is("'1.0.1.security1' > '1.0.1^20210203gbbbccc0' collate version_rhel"),

		// Collation names are case-insensitive, as all SQLite names.
		is("'1.10' > '1.9' collate VERSION"),
		// dpkg: '~' sorts before everything, even the end of the version.
		is("'1.0~rc1' < '1.0' collate version_dpkg"),
		is("'1.0~~' < '1.0~' collate version_dpkg"),
		is("'1.0~~a' < '1.0~' collate version_dpkg"),
		is("'1.0' < '1.0a' collate version_dpkg"),
		is("'1.0a' < '1.0+' collate version_dpkg"),
	})
}

// TestVersionCollationOrdering sorts a column with each collation, the way
// a table declared with COLLATE version_dpkg would.
func TestVersionCollationOrdering(t *testing.T) {
	db, _ := fnTestDB(t)
	versions := []string{"1.10", "1.9", "1.0~rc1", "1.0", "1:0.1", "1.0-1", "1.0+deb12u1", "2.0~beta"}
	var values []string
	for _, v := range versions {
		values = append(values, "("+fnQuote(v)+")")
	}
	for collation, want := range map[string]string{
		"version_dpkg": "1.0~rc1,1.0,1.0-1,1.0+deb12u1,1.9,1.10,2.0~beta,1:0.1",
		"binary":       "1.0,1.0+deb12u1,1.0-1,1.0~rc1,1.10,1.9,1:0.1,2.0~beta",
	} {
		res, err := db.Query(t.Context(), fmt.Sprintf("select group_concat(v, ',') from (select column1 as v from (values %s) order by v collate %s)", strings.Join(values, ", "), collation))
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Rows[0][0].Str; got != want {
			t.Errorf("order by %s: %s, want %s", collation, got, want)
		}
	}
}

// dpkgReferenceVersions are version strings as found in Debian archives.
var dpkgReferenceVersions = []string{
	"0", "1", "1.0", "1.0-1", "1.0-2", "1.0-10", "1.00", "1.0.1", "1.0~rc1", "1.0~rc2", "1.0~~",
	"1.0~", "1.0+b1", "1.0+dfsg", "1.0+dfsg-1", "1.0a", "1.0A", "1.0.a", "1:1.0", "2:0.1", "0:1.0",
	"10:1", "1.2.3-4ubuntu5", "1.2.3-4ubuntu5.1", "1.2.3-4+deb12u1", "1.2.3-4+deb12u2",
	"2.36-9+deb12u7", "2.36-9+deb12u10", "3.0.11-1~deb12u2", "3.0.11-1", "1.21.22", "7.88.1-10+deb12u8",
	"1:9.2p1-2+deb12u3", "252.33-1~deb12u1", "2023.3+dfsg-1", "20230311", "1.0-1.1", "1.0-1~bpo12+1",
	"0.0.0", "00", "01.0", "1.01", "1.001", "1.0-0", "1.0-00", "1.0+", "1.0.", "1.0-a", "1.0-~",
}

// TestDpkgCompareMatchesDpkg checks the DPKG flavor against the system's
// dpkg --compare-versions.
func TestDpkgCompareMatchesDpkg(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg not installed")
	}
	relation := func(a, b string) int {
		for _, rel := range []struct {
			op string
			rc int
		}{{"lt", -1}, {"eq", 0}, {"gt", 1}} {
			if exec.Command(dpkg, "--compare-versions", a, rel.op, b).Run() == nil {
				return rel.rc
			}
		}
		t.Fatalf("dpkg cannot compare %q and %q", a, b)
		return 0
	}
	pairs := [][2]string{}
	vs := dpkgReferenceVersions
	rng := rand.New(rand.NewPCG(1, 2))
	for range 150 {
		pairs = append(pairs, [2]string{vs[rng.IntN(len(vs))], vs[rng.IntN(len(vs))]})
	}
	for range 100 {
		pairs = append(pairs, [2]string{fnRandomDebVersion(rng), fnRandomDebVersion(rng)})
	}
	if testing.Short() {
		pairs = pairs[:40]
	}
	for _, p := range pairs {
		want := relation(p[0], p[1])
		got := dpkgVersionCompare(p[0], p[1])
		if sign(got) != want {
			t.Errorf("dpkg %q vs %q: got %d, dpkg says %d", p[0], p[1], got, want)
		}
	}
}

// fnRandomDebVersion builds a syntactically valid Debian version that
// shares structure with others often enough to hit close comparisons.
func fnRandomDebVersion(rng *rand.Rand) string {
	part := func(alphabet string) string {
		var b strings.Builder
		b.WriteByte("0123456789"[rng.IntN(10)])
		for range rng.IntN(6) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	v := part("0123456789.+~abzAZ")
	if rng.IntN(3) == 0 {
		v = fmt.Sprint(rng.IntN(3)) + ":" + v
	}
	if rng.IntN(2) == 0 {
		v += "-" + part("0123456789.+~ab")
	}
	return v
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// FuzzVersionCompare checks that every flavor terminates without panic on
// any input, is reflexive and antisymmetric, agrees with the SQL function,
// and that dpkg's order ignores what dpkg ignores.
func FuzzVersionCompare(f *testing.F) {
	for _, s := range [][2]string{
		{"1.0", "1.0"}, {"1:2.0-10", "1:2.0-10"}, {"1.0~rc1", "1.0"}, {"1.0.0~rc2^2021", "1.0.0"},
		{"2.50^1a", "2.50~1a"}, {"", "1"}, {"57:4", "6.87.5"}, {"1.0\x001", "1.0"}, {"\xff\xfe", "a"},
		{":::", "---"}, {"0:", "-"}, {"~~~", "~"}, {"1.0-", "1.0"}, {"99999999999999999999999:1", "1:1"},
	} {
		f.Add(s[0], s[1])
	}
	db, _ := fnTestDB(f)
	flavors := []struct {
		f    versionFlavor
		name string
	}{{flavorDefault, ""}, {flavorArch, "ARCH"}, {flavorDpkg, "DPKG"}, {flavorRHEL, "RHEL"}}
	f.Fuzz(func(t *testing.T, a, b string) {
		results := make([]int, len(flavors))
		for i, fl := range flavors {
			ab, ba := compareVersions(a, b, fl.f), compareVersions(b, a, fl.f)
			if sign(ab) != -sign(ba) {
				t.Errorf("flavor %q: cmp(%q, %q) = %d but cmp(%q, %q) = %d", fl.name, a, b, ab, b, a, ba)
			}
			if c := compareVersions(a, a, fl.f); c != 0 {
				t.Errorf("flavor %q: cmp(%q, %q) = %d", fl.name, a, a, c)
			}
			results[i] = sign(ab)
		}
		// dpkg ignores surrounding whitespace.
		if c := dpkgVersionCompare(" "+a+"\t", a); c != 0 {
			t.Errorf("dpkg: whitespace changed the order of %q: %d", a, c)
		}
		// The SQL function agrees with the Go comparison. A NUL cannot be
		// written inside an SQL literal, so such inputs skip this part.
		if strings.IndexByte(a+b, 0) >= 0 {
			return
		}
		var exprs []string
		for _, fl := range flavors {
			if fl.name == "" {
				exprs = append(exprs, fmt.Sprintf("version_compare(%s, %s)", fnQuote(a), fnQuote(b)))
			} else {
				exprs = append(exprs, fmt.Sprintf("version_compare(%s, %s, '%s')", fnQuote(a), fnQuote(b), fl.name))
			}
		}
		sql := "select " + strings.Join(exprs, ", ")
		res, err := db.Query(t.Context(), sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		for i, v := range res.Rows[0] {
			if v.Int != int64(results[i]) {
				t.Errorf("%s = %d, Go compare %d", exprs[i], v.Int, results[i])
			}
		}
	})
}
