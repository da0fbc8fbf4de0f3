package sqlengine

import (
	"crypto/md5"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestHashFunctions(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		// osquery's own cases.
		{"md5('test')", "098f6bcd4621d373cade4e832627b4f6"},
		{"sha1('test')", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"},
		{"sha256('test')", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		{"md5('')", "d41d8cd98f00b204e9800998ecf8427e"},
		{"sha1('')", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		{"sha256('')", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		// Numbers hash their text form.
		{"md5(123) = md5('123')", 1},
		{"md5(NULL)", fnNull},
		{"sha1(NULL)", fnNull},
		{"sha256(NULL)", fnNull},
		// Non-UTF-8 bytes are hashed as they are.
		{"md5(cast(x'ff00fe' as text)) = md5(x'ff00fe')", 1},
		{"md5(x'ff00fe')", fmt.Sprintf("%x", md5.Sum([]byte("\xff\x00\xfe")))},
	})
}

// communityIDVector is one row of the spec's published baseline
// (github.com/corelight/community-id-spec, baseline/), with ports "-" for
// port-less protocols.
type communityIDVector struct {
	proto        int
	saddr, daddr string
	sport, dport string
	seed0, seed1 string
}

// communityIDSpecTable is the spec's baseline/README.md tables: default
// seed and seed=1.
var communityIDSpecTable = []communityIDVector{
	{6, "1.2.3.4", "5.6.7.8", "1122", "3344", "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
	{6, "5.6.7.8", "1.2.3.4", "3344", "1122", "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
	{17, "1.2.3.4", "5.6.7.8", "1122", "3344", "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
	{17, "5.6.7.8", "1.2.3.4", "3344", "1122", "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
	{132, "1.2.3.4", "5.6.7.8", "1122", "3344", "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
	{132, "5.6.7.8", "1.2.3.4", "3344", "1122", "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
	{1, "1.2.3.4", "5.6.7.8", "8", "0", "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
	{1, "5.6.7.8", "1.2.3.4", "0", "0", "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
	{1, "1.2.3.4", "5.6.7.8", "11", "0", "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=", "1:1DD7cWGC/Yg91YGsQeni8du3pIA="},
	{58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "128", "0", "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
	{58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "129", "0", "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
	{58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "146", "0", "1:fYC8+pz24E+EhANP1EZhpX0Dw10=", "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="},
	{46, "1.2.3.4", "5.6.7.8", "-", "-", "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
	{46, "5.6.7.8", "1.2.3.4", "-", "-", "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
	{46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "-", "-", "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},
	{46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "-", "-", "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},
}

// communityIDSpecJSON is the spec's baseline_deflt.json and
// baseline_seed1.json (flows from the spec's pcaps), merged.
var communityIDSpecJSON = []communityIDVector{
	{58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", "135", "136", "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
	{58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", "136", "135", "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
	{58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", "135", "136", "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
	{58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", "136", "135", "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
	{58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", "3", "0", "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=", "1:lVEtCZpYu84Xqaa++3lXFyuu2n4="},
	{58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", "1", "4", "1:hLZd0XGWojozrvxqE0dWB1iM6R0=", "1:W8MHwXpWzpoSTD+cGcaJr4u0ys8="},
	{58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", "128", "129", "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
	{58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", "129", "128", "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
	{58, "fe80::200:86ff:fe05:80da", "ff02::2", "133", "134", "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=", "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8="},
	{58, "fe80::260:97ff:fe07:69ea", "ff02::1", "134", "133", "1:pkvHqCL88/tg1k4cPigmZXUtL00=", "1:K/ee5UCqAMAQXDorP5nSa2CGLjc="},
	{1, "192.168.0.89", "192.168.0.1", "8", "0", "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
	{1, "192.168.0.1", "192.168.0.89", "0", "8", "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
	{1, "10.0.0.1", "10.0.0.2", "11", "0", "1:YHxtAirCG//0OzkcVAukqKQN9xM=", "1:XjUibYHaafLQ3pxQeiMI8g25q20="},
	{6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", "63943", "25", "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
	{6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", "25", "63943", "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
	{132, "192.168.170.8", "192.168.170.56", "7", "7", "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
	{132, "192.168.170.56", "192.168.170.8", "7", "7", "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
	{6, "128.232.110.120", "66.35.250.204", "34855", "80", "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
	{6, "66.35.250.204", "128.232.110.120", "80", "34855", "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
	{17, "192.168.1.52", "8.8.8.8", "54585", "53", "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
	{17, "8.8.8.8", "192.168.1.52", "53", "54585", "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
	{46, "10.1.12.1", "10.1.12.2", "-", "-", "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="},
	{46, "10.1.12.2", "10.1.12.1", "-", "-", "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="},
}

func TestCommunityIDSpecVectors(t *testing.T) {
	db, _ := fnTestDB(t)
	var cases []fnCase
	for _, v := range slices.Concat(communityIDSpecTable, communityIDSpecJSON) {
		sport, dport := v.sport, v.dport
		if sport == "-" {
			sport, dport = "NULL", "NULL"
		}
		args := fmt.Sprintf("%s, %s, %s, %s, %d", fnQuote(v.saddr), fnQuote(v.daddr), sport, dport, v.proto)
		for _, fn := range []string{"community_id_v1", "community_id_v1_strict"} {
			cases = append(cases,
				fnCase{fmt.Sprintf("%s(%s)", fn, args), v.seed0},
				fnCase{fmt.Sprintf("%s(%s, 0)", fn, args), v.seed0},
				fnCase{fmt.Sprintf("%s(%s, 1)", fn, args), v.seed1},
			)
		}
	}
	fnCheck(t, db, cases)
}

func TestCommunityIDOsqueryCases(t *testing.T) {
	db, logs := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		// osquery's own cases (osquery/sql/tests/sqlite_hashing_tests.cpp).
		{"community_id_v1('66.35.250.204', '128.232.110.120', 80, 34855, 6, 0)", "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{"community_id_v1('128.232.110.120', '66.35.250.204', 34855, 80, 6)", "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{"community_id_v1('66.35.250.204', '128.232.110.120', 80, 34855, 6, 1)", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
		{"community_id_v1('127.0.0.1', 'fe80::14b0:de4a:f8e8:522f', 64, 10, 6)", "1:Jww+Ua4pSUNl9TvSUwvSHL4n93w="},
		{"community_id_v1('fe80::14b0:de4a:f8e8:522f', '127.0.0.1', 10, 64, 6, 0)", "1:Jww+Ua4pSUNl9TvSUwvSHL4n93w="},
		{"community_id_v1('192.168.170.8', '192.168.170.56', 7, 80, 132, 0)", "1:jQgCxbku+pNGw8WPbEc/TS/uTpQ="},
		{"community_id_v1('192.168.170.56', '192.168.170.8', 80, 7, 132, 0)", "1:jQgCxbku+pNGw8WPbEc/TS/uTpQ="},
		{"community_id_v1('192.168.170.8', '192.168.170.56', 7, 80, 132, 1)", "1:Y1/0jQg6e+I3ZwZZ9LP65DNbTXU="},
		{"community_id_v1('192.168.1.52', '8.8.8.8', 54585, 53, 17, 0)", "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
		{"community_id_v1('192.168.1.52', 'foo', 10, 53, 17, 0)", fnNull},
		{"community_id_v1('192.168.1.52', '192.168.1.1', 10, 53, 17, 100000000)", fnNull},
		{"community_id_v1_strict('192.168.1.52', 'foo', 10, 53, 17, 0)", fnErr("Community ID daddr cannot be parsed as IP")},
		{"community_id_v1_strict('192.168.1.52', '192.168.1.1', 10, 53, 17, 100000000)", fnErr("Community ID seed must fit in 2 bytes")},
	})
	got := strings.Join(logs.all(), "\n")
	for _, want := range []string{"WARN Community ID daddr cannot be parsed as IP", "WARN Community ID seed must fit in 2 bytes"} {
		if !strings.Contains(got, want) {
			t.Errorf("logs %q lack %q", got, want)
		}
	}
}

func TestCommunityIDBadInput(t *testing.T) {
	db, _ := fnTestDB(t)
	s := func(args string) string { return "community_id_v1_strict(" + args + ")" }
	fnCheck(t, db, []fnCase{
		{s("'1.2.3.4', '5.6.7.8', 1, 2, 6, '1'"), fnErr("Community ID seed must be an integer")},
		{s("'1.2.3.4', '5.6.7.8', 1, 2, 6, -32769"), fnErr("Community ID seed must fit in 2 bytes")},
		{s("'1.2.3.4', '5.6.7.8', 1, 2, 6, 65536"), fnErr("Community ID seed must fit in 2 bytes")},
		{s("1, '5.6.7.8', 1, 2, 6"), fnErr("Community ID IPs must be strings")},
		{s("'1.2.3.4', NULL, 1, 2, 6"), fnErr("Community ID IPs must be strings")},
		{s("'1.2.3.400', '5.6.7.8', 1, 2, 6"), fnErr("Community ID saddr cannot be parsed as IP")},
		{s("'01.2.3.4', '5.6.7.8', 1, 2, 6"), fnErr("Community ID saddr cannot be parsed as IP")},
		{s("'1.2.3.4', '5.6.7.8', '1', 2, 6"), fnErr("Community ID ports must be integers")},
		{s("'1.2.3.4', '5.6.7.8', 1.0, 2, 6"), fnErr("Community ID ports must be integers")},
		{s("'1.2.3.4', '5.6.7.8', 1, NULL, 6"), fnErr("Community ID ports must be integers")},
		{s("'1.2.3.4', '5.6.7.8', NULL, NULL, 6"), fnErr("Community ID ports must be integers")},
		{s("'1.2.3.4', '5.6.7.8', -1, 2, 6"), fnErr("Community ID ports must fit in 2 bytes")},
		{s("'1.2.3.4', '5.6.7.8', 1, 65536, 6"), fnErr("Community ID ports must fit in 2 bytes")},
		{s("'1.2.3.4', '5.6.7.8', 1, 2, '6'"), fnErr("Community ID protocol must be an integer")},
		{s("'1.2.3.4', '5.6.7.8', 1, 2, 256"), fnErr("Community ID protocol must fit in 1 byte")},
		{s("cast(x'ff' as text), '5.6.7.8', 1, 2, 6"), fnErr("Community ID saddr cannot be parsed as IP")},
		// Signed and unsigned spellings of the same 16-bit seed agree.
		{s("'1.2.3.4', '5.6.7.8', 1, 2, 6, -1") + " = " + s("'1.2.3.4', '5.6.7.8', 1, 2, 6, 65535"), 1},
		// An IPv6 zone does not change the ID.
		{s("'fe80::1%eth0', 'fe80::2', 1, 2, 6") + " = " + s("'fe80::1', 'fe80::2', 1, 2, 6"), 1},
		// Ports given for a port-less protocol are hashed, as the spec's
		// reference implementation does.
		{s("'1.2.3.4', '5.6.7.8', 1, 2, 46") + " <> " + s("'1.2.3.4', '5.6.7.8', NULL, NULL, 46"), 1},
	})
}
