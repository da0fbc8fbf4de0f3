package sqlengine

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"net/netip"

	"github.com/ncruces/go-sqlite3"

	"github.com/gosquery/gosquery/internal/table"
)

// hashFunctions are osquery's md5, sha1, sha256 and the Community ID flow
// hash (osquery/sql/sqlite_hashing.cpp).
func hashFunctions(env *table.Env) []sqlFunction {
	lenient := func(ctx sqlite3.Context, args ...sqlite3.Value) {
		id, err := communityIDArgs(args)
		if err != nil {
			// community_id_v1 turns bad input into NULL and a warning, so one
			// odd row does not fail a whole query.
			if env != nil && env.Log != nil {
				env.Log.Warn(err.Error())
			}
			ctx.ResultNull()
			return
		}
		ctx.ResultText(id)
	}
	strict := func(ctx sqlite3.Context, args ...sqlite3.Value) {
		id, err := communityIDArgs(args)
		if err != nil {
			ctx.ResultError(err)
			return
		}
		ctx.ResultText(id)
	}
	return []sqlFunction{
		{"md5", 1, pure, hashFunc(md5.New)},
		{"sha1", 1, pure, hashFunc(sha1.New)},
		{"sha256", 1, pure, hashFunc(sha256.New)},
		{"community_id_v1", 5, pure, lenient},
		{"community_id_v1", 6, pure, lenient},
		{"community_id_v1_strict", 5, pure, strict},
		{"community_id_v1_strict", 6, pure, strict},
	}
}

// hashFunc returns the lower-case hex digest of the argument's text form
// (NULL gives NULL). osquery hashes the text up to its first NUL byte; here
// every byte of the value is hashed.
func hashFunc(newHash func() hash.Hash) sqlite3.ScalarFunction {
	return func(ctx sqlite3.Context, args ...sqlite3.Value) {
		if args[0].Type() == sqlite3.NULL {
			ctx.ResultNull()
			return
		}
		h := newHash()
		h.Write(args[0].RawText())
		ctx.ResultText(hex.EncodeToString(h.Sum(nil)))
	}
}

// IP protocol numbers the Community ID spec treats specially.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
	protoSCTP   = 132
)

// communityIDArgs validates community_id_v1(saddr, daddr, sport, dport,
// proto[, seed]) with osquery's checks and messages, then hashes.
//
// Beyond osquery, and following the spec (github.com/corelight/community-id-spec):
//   - ICMP (1) and ICMPv6 (58) take the ICMP type as sport and the code as
//     dport and map them to port equivalents as Zeek does, so an echo
//     request and its reply get the same ID (osquery hashes them raw).
//   - For protocols without ports both ports may be NULL, and are then left
//     out of the hash (the spec's "other IP-borne protocols" case).
//   - The seed may be any 16-bit value, signed (osquery's range) or
//     unsigned (the spec's); -1 and 65535 hash the same.
func communityIDArgs(args []sqlite3.Value) (string, error) {
	var seed uint16
	if len(args) == 6 {
		if args[5].Type() != sqlite3.INTEGER {
			return "", sqlError("Community ID seed must be an integer")
		}
		s := args[5].Int64()
		if s < -32768 || s > 65535 {
			return "", sqlError("Community ID seed must fit in 2 bytes")
		}
		seed = uint16(s)
	}
	if args[0].Type() != sqlite3.TEXT || args[1].Type() != sqlite3.TEXT {
		return "", sqlError("Community ID IPs must be strings")
	}
	saddr, ok := parseIPLikeBoost(args[0].Text())
	if !ok {
		return "", sqlError("Community ID saddr cannot be parsed as IP")
	}
	daddr, ok := parseIPLikeBoost(args[1].Text())
	if !ok {
		return "", sqlError("Community ID daddr cannot be parsed as IP")
	}
	noPorts := args[2].Type() == sqlite3.NULL && args[3].Type() == sqlite3.NULL
	var sport, dport int64
	if !noPorts {
		if args[2].Type() != sqlite3.INTEGER || args[3].Type() != sqlite3.INTEGER {
			return "", sqlError("Community ID ports must be integers")
		}
		sport, dport = args[2].Int64(), args[3].Int64()
		if sport < 0 || sport > 65535 || dport < 0 || dport > 65535 {
			return "", sqlError("Community ID ports must fit in 2 bytes")
		}
	}
	if args[4].Type() != sqlite3.INTEGER {
		return "", sqlError("Community ID protocol must be an integer")
	}
	proto := args[4].Int64()
	if proto < 0 || proto > 255 {
		return "", sqlError("Community ID protocol must fit in 1 byte")
	}
	if noPorts {
		switch proto {
		case protoICMP, protoTCP, protoUDP, protoICMPv6, protoSCTP:
			return "", sqlError("Community ID ports must be integers")
		}
	}
	return communityIDv1(seed, saddr, daddr, uint8(proto), !noPorts, uint16(sport), uint16(dport)), nil
}

// communityIDv1 computes "1:" + base64(SHA1(seed . saddr . daddr . proto .
// 0 . sport . dport)), all big-endian, after putting the endpoints in
// canonical order.
func communityIDv1(seed uint16, saddr, daddr netip.Addr, proto uint8, hasPorts bool, sport, dport uint16) string {
	oneWay := false
	if hasPorts {
		switch proto {
		case protoICMP:
			sport, dport, oneWay = icmpPortEquivalents(icmpv4Counterparts, sport, dport)
		case protoICMPv6:
			sport, dport, oneWay = icmpPortEquivalents(icmpv6Counterparts, sport, dport)
		}
	}
	c := compareAddrLikeBoost(saddr, daddr)
	if !oneWay && !(c < 0 || (c == 0 && sport < dport)) {
		saddr, daddr = daddr, saddr
		sport, dport = dport, sport
	}
	buf := make([]byte, 0, 2+16+16+2+4)
	buf = binary.BigEndian.AppendUint16(buf, seed)
	buf = appendAddrBytes(buf, saddr)
	buf = appendAddrBytes(buf, daddr)
	buf = append(buf, proto, 0)
	if hasPorts {
		buf = binary.BigEndian.AppendUint16(buf, sport)
		buf = binary.BigEndian.AppendUint16(buf, dport)
	}
	sum := sha1.Sum(buf)
	return "1:" + base64.StdEncoding.EncodeToString(sum[:])
}

// icmpv4Counterparts and icmpv6Counterparts pair ICMP request and reply
// types (Zeek's ICMP4_counterpart / ICMP6_counterpart, as the spec's
// reference implementation pycommunityid uses them).
var (
	icmpv4Counterparts = map[uint16]uint16{
		0: 8, 8: 0, // echo reply / echo request
		9: 10, 10: 9, // router advertisement / solicitation
		13: 14, 14: 13, // timestamp / reply
		15: 16, 16: 15, // information request / reply
		17: 18, 18: 17, // address mask request / reply
	}
	icmpv6Counterparts = map[uint16]uint16{
		128: 129, 129: 128, // echo request / reply
		130: 131, 131: 130, // multicast listener query / report
		133: 134, 134: 133, // router solicitation / advertisement
		135: 136, 136: 135, // neighbor solicitation / advertisement
		139: 140, 140: 139, // node information query / reply
		144: 145, 145: 144, // home agent address discovery request / reply
	}
)

// icmpPortEquivalents maps an ICMP type and code to a port pair. A type
// with a counterpart becomes (type, counterpart) and may be flipped like
// any two-way flow; any other message is one-way (type, code).
func icmpPortEquivalents(counterparts map[uint16]uint16, typ, code uint16) (uint16, uint16, bool) {
	if c, ok := counterparts[typ]; ok {
		return typ, c, false
	}
	return typ, code, true
}

// parseIPLikeBoost parses an address as boost::asio::ip::make_address does:
// IPv6 (optionally with a %scope, which is ignored here) or dotted-quad IPv4
// without leading zeros.
func parseIPLikeBoost(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone(""), true
}

// compareAddrLikeBoost orders addresses as boost::asio::ip::address does:
// every IPv4 address before every IPv6 one, then by bytes. An IPv4-mapped
// IPv6 address stays IPv6.
func compareAddrLikeBoost(a, b netip.Addr) int {
	if a.Is4() != b.Is4() {
		if a.Is4() {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.AsSlice(), b.AsSlice())
}

func appendAddrBytes(buf []byte, a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return append(buf, b[:]...)
	}
	b := a.As16()
	return append(buf, b[:]...)
}
