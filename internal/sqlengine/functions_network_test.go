package sqlengine

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"
)

func TestInetAton(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		{"inet_aton('1.2.3.4')", 0x01020304},
		{"inet_aton('0.0.0.0')", 0},
		{"inet_aton('255.255.255.255')", 4294967295},
		{"inet_aton('192.168.0.1')", 3232235521},
		{"inet_aton('::1')", fnNull},
		{"inet_aton('::ffff:1.2.3.4')", fnNull},
		{"inet_aton('1.2.3')", fnNull},
		{"inet_aton('1.2.3.4.5')", fnNull},
		{"inet_aton('01.2.3.4')", fnNull},
		{"inet_aton('1.2.3.256')", fnNull},
		{"inet_aton('1.2.3.4 ')", fnNull},
		{"inet_aton('1..3.4')", fnNull},
		{"inet_aton('1.2.3.')", fnNull},
		{"inet_aton('0x1.2.3.4')", fnNull},
		{"inet_aton('')", fnNull},
		{"inet_aton(16909060)", fnNull},
		{"inet_aton(NULL)", fnNull},
		{"inet_aton(cast(x'312e322e332e3400ff' as text))", 0x01020304},
	})
}

func TestInetAtonAgainstNet(t *testing.T) {
	for _, s := range []string{"10.0.0.1", "172.16.254.3", "8.8.8.8", "127.0.0.1", "001.2.3.4", "1.2.3.04", "300.1.1.1", "1.2.3.4x"} {
		got, ok := parseIPv4Strict(s)
		ip := net.ParseIP(s).To4()
		if ok != (ip != nil) {
			t.Errorf("%s: parsed %v, net.ParseIP %v", s, ok, ip)
			continue
		}
		if ok && binary.BigEndian.Uint32(got[:]) != binary.BigEndian.Uint32(ip) {
			t.Errorf("%s: %v, want %v", s, got, ip)
		}
	}
}

func TestInCIDRBlock(t *testing.T) {
	db, _ := fnTestDB(t)
	fnCheck(t, db, []fnCase{
		// osquery's own cases (osquery/sql/tests/sqlite_network_tests.cpp).
		{"in_cidr_block('10.0.0.0/26', '10.0.0.24')", 1},
		{"in_cidr_block('198.51.100.14/24', '198.51.100.14')", 1},
		{"in_cidr_block('2a00:a040:019e:f12a:0000:0000:0000:0000/64', '2a00:a040:19e:f12a:658b:3589:b2ba:71a3')", 1},
		{"in_cidr_block('2001:db8::/48', '2001:db8:0:ffff:ffff:ffff:ffff:ffff')", 1},

		{"in_cidr_block('10.0.0.0/26', '10.0.0.64')", 0},
		{"in_cidr_block('10.0.0.0/8', '11.0.0.1')", 0},
		{"in_cidr_block('192.168.1.0/24', '192.168.1.200')", 1},
		// boost's hosts(): network and broadcast addresses are outside.
		{"in_cidr_block('192.168.1.0/24', '192.168.1.0')", 0},
		{"in_cidr_block('192.168.1.0/24', '192.168.1.255')", 0},
		{"in_cidr_block('192.168.1.0/24', '192.168.1.1')", 1},
		{"in_cidr_block('192.168.1.0/24', '192.168.1.254')", 1},
		{"in_cidr_block('10.0.0.0/31', '10.0.0.0')", 0},
		{"in_cidr_block('10.0.0.0/31', '10.0.0.1')", 0},
		{"in_cidr_block('10.0.0.7/32', '10.0.0.7')", 1},
		{"in_cidr_block('10.0.0.7/32', '10.0.0.8')", 0},
		{"in_cidr_block('0.0.0.0/0', '8.8.8.8')", 1},
		{"in_cidr_block('0.0.0.0/0', '0.0.0.0')", 0},
		{"in_cidr_block('10.0.0.0/008', '10.1.2.3')", 1},
		// IPv6 blocks are whole.
		{"in_cidr_block('2001:db8::/32', '2001:db8::')", 1},
		{"in_cidr_block('2001:db8::/32', '2001:db9::')", 0},
		{"in_cidr_block('::1/128', '::1')", 1},
		{"in_cidr_block('::/0', '2001:db8::1')", 1},
		{"in_cidr_block('ff00::/8', 'ff02::1')", 1},
		{"in_cidr_block('fe80::/10', 'fe80::1%eth0')", 1},
		{"in_cidr_block('::ffff:0:0/96', '::ffff:10.1.2.3')", 1},
		// The IP's family picks the CIDR parser.
		{"in_cidr_block('2001:db8::/32', '10.0.0.1')", fnErr("CIDR for IP address v4 cannot be parsed")},
		{"in_cidr_block('10.0.0.0/8', '2001:db8::1')", fnErr("CIDR for IP address v6 cannot be parsed")},
		{"in_cidr_block('10.0.0.0/33', '10.0.0.1')", fnErr("CIDR for IP address v4 cannot be parsed")},
		{"in_cidr_block('10.0.0.0', '10.0.0.1')", fnErr("CIDR for IP address v4 cannot be parsed")},
		{"in_cidr_block('10.0.0.0/', '10.0.0.1')", fnErr("CIDR for IP address v4 cannot be parsed")},
		{"in_cidr_block('10.0.0.0/+8', '10.0.0.1')", fnErr("CIDR for IP address v4 cannot be parsed")},
		{"in_cidr_block('10.0.0.0/8 ', '10.0.0.1')", fnErr("CIDR for IP address v4 cannot be parsed")},
		{"in_cidr_block('10.0.0.0/99999999999999999999', '10.0.0.1')", fnErr("CIDR for IP address v4 cannot be parsed")},
		{"in_cidr_block('2001:db8::/129', '2001:db8::1')", fnErr("CIDR for IP address v6 cannot be parsed")},
		{"in_cidr_block('10.0.0.0/8', '10.0.0.256')", fnErr("IP address cannot be parsed")},
		{"in_cidr_block('10.0.0.0/8', '')", fnErr("IP address cannot be parsed")},
		{"in_cidr_block(NULL, '10.0.0.1')", fnErr("CIDR must be a string")},
		{"in_cidr_block(10, '10.0.0.1')", fnErr("CIDR must be a string")},
		{"in_cidr_block('10.0.0.0/8', NULL)", fnErr("IP address must be a string")},
		{"in_cidr_block('10.0.0.0/8', 167772161)", fnErr("IP address must be a string")},
	})
}

// TestInCIDRBlockAgainstNet compares IPv4 results with net.IPNet minus the
// network and broadcast addresses, over every address of small blocks.
func TestInCIDRBlockAgainstNet(t *testing.T) {
	db, _ := fnTestDB(t)
	for _, cidr := range []string{"10.1.2.0/28", "10.1.2.5/29", "10.1.2.8/30", "10.1.2.0/31", "10.1.2.3/32"} {
		_, ipnet, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		ones, bits := ipnet.Mask.Size()
		base := binary.BigEndian.Uint32(ipnet.IP.To4())
		size := uint32(1) << (bits - ones)
		for x := base - 2; x < base+size+2; x++ {
			ip := make(net.IP, 4)
			binary.BigEndian.PutUint32(ip, x)
			want := 0
			if ones == 32 {
				if x == base {
					want = 1
				}
			} else if x > base && x < base+size-1 {
				want = 1
			}
			fnCheck(t, db, []fnCase{{fmt.Sprintf("in_cidr_block('%s', '%s')", cidr, ip), want}})
		}
	}
}
