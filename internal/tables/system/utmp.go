package system

// The utmp/wtmp record format, shared by logged_in_users (/var/run/utmp)
// and last (/var/log/wtmp).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
)

// utmpRecordSize is sizeof(struct utmp) in glibc on Linux. On 64-bit
// targets (x86_64, arm64) ut_session and ut_tv stay 32-bit
// (__WORDSIZE_TIME64_COMPAT32) so the files are shared with 32-bit
// programs, which makes the record the same 384 bytes everywhere:
//
//	off  size  field
//	  0     2  ut_type     (short, then 2 bytes padding)
//	  4     4  ut_pid
//	  8    32  ut_line     (tty name without /dev/)
//	 40     4  ut_id
//	 44    32  ut_user
//	 76   256  ut_host
//	332     4  ut_exit     (e_termination, e_exit: shorts)
//	336     4  ut_session
//	340     8  ut_tv       (int32 tv_sec, int32 tv_usec)
//	348    16  ut_addr_v6
//	364    20  reserved
const utmpRecordSize = 384

// utmp record types (ut_type), as in <utmp.h>.
const (
	utmpEmpty        = 0
	utmpRunLevel     = 1
	utmpBootTime     = 2
	utmpNewTime      = 3
	utmpOldTime      = 4
	utmpInitProcess  = 5
	utmpLoginProcess = 6
	utmpUserProcess  = 7
	utmpDeadProcess  = 8
	utmpAccounting   = 9
)

// utmpRecord is one decoded record.
type utmpRecord struct {
	Type    int16
	PID     int32
	Line    string
	ID      string
	User    string
	Host    string
	Session int32
	// Sec is ut_tv.tv_sec read as unsigned: glibc stores a signed 32-bit
	// value, which util-linux and osquery show as a date in 1901 after
	// January 2038; unsigned keeps those records in the future where they
	// belong, and no login predates 1970.
	Sec  uint32
	Usec int32
	Addr [16]byte
}

// parseUtmpRecord decodes one record. The strings are fixed-size fields,
// NUL-padded but not NUL-terminated when full, so each is cut at its first
// NUL or at the field end; their bytes are kept as they are (user and
// host names may be in any encoding).
func parseUtmpRecord(b []byte) (utmpRecord, bool) {
	if len(b) < utmpRecordSize {
		return utmpRecord{}, false
	}
	// glibc writes the file in the host's byte order.
	e := binary.NativeEndian
	r := utmpRecord{
		Type:    int16(e.Uint16(b[0:2])),
		PID:     int32(e.Uint32(b[4:8])),
		Line:    utmpString(b[8:40]),
		ID:      utmpString(b[40:44]),
		User:    utmpString(b[44:76]),
		Host:    utmpString(b[76:332]),
		Session: int32(e.Uint32(b[336:340])),
		Sec:     e.Uint32(b[340:344]),
		Usec:    int32(e.Uint32(b[344:348])),
	}
	copy(r.Addr[:], b[348:364])
	return r, true
}

func utmpString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// utmpEach streams the records of a utmp-format file to fn, in file
// order. A trailing partial record (a file being written, or truncated)
// is ignored, as glibc's getutent does. Only regular files are read.
func utmpEach(ctx context.Context, root acctRoot, path string, fn func(utmpRecord)) error {
	f, err := root.open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64*utmpRecordSize)
	var buf [utmpRecordSize]byte
	for ctx.Err() == nil {
		if _, err := io.ReadFull(br, buf[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return err
		}
		if r, ok := parseUtmpRecord(buf[:]); ok {
			fn(r)
		}
	}
	return nil
}
