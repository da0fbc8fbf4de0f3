package audit

import (
	"encoding/binary"
	"fmt"
)

// StatusSize is the size of struct audit_status on current kernels (all
// fields __u32, no padding). Older kernels answer AUDIT_GET with a prefix of
// it (32, 36 or 40 bytes).
const StatusSize = 44

// statusMinSize is the oldest layout (up to backlog) any kernel sends.
const statusMinSize = 32

// Status mask bits: AUDIT_SET applies only the fields whose bit is set.
// Lost and BacklogWaitTimeActual are resets: the kernel zeroes the counter
// and answers with the old value as a positive "error" in the ACK.
const (
	StatusEnabled               uint32 = 0x01
	StatusFailure               uint32 = 0x02
	StatusPID                   uint32 = 0x04
	StatusRateLimit             uint32 = 0x08
	StatusBacklogLimit          uint32 = 0x10
	StatusBacklogWaitTime       uint32 = 0x20
	StatusLost                  uint32 = 0x40
	StatusBacklogWaitTimeActual uint32 = 0x80
)

// Values of Status.Enabled.
const (
	Disabled  uint32 = 0
	Enabled   uint32 = 1
	Immutable uint32 = 2 // audit -e 2: nothing can be changed until reboot
)

// Values of Status.Failure. FailurePanic must never be set by us.
const (
	FailureSilent uint32 = 0
	FailurePrintk uint32 = 1
	FailurePanic  uint32 = 2
)

// Status is struct audit_status, the answer to AUDIT_GET and the request of
// AUDIT_SET. Offsets are in the field comments.
type Status struct {
	Mask         uint32 // 0: which fields AUDIT_SET applies
	Enabled      uint32 // 4: 0 off, 1 on, 2 immutable
	Failure      uint32 // 8: what to do on a lost record: 0 silent, 1 printk, 2 panic
	PID          uint32 // 12: tgid of the registered audit daemon, 0 if none
	RateLimit    uint32 // 16: records per second, 0 unlimited
	BacklogLimit uint32 // 20: records queued in the kernel before it drops or waits
	Lost         uint32 // 24: records the kernel dropped (backlog full, rate limit, no memory)
	Backlog      uint32 // 28: records queued right now
	// FeatureBitmap shares its offset with the old "version" field.
	FeatureBitmap uint32 // 32
	// BacklogWaitTime is how long (jiffies) a task waits for room in a full
	// backlog before the record is dropped; the kernel caps it at 10*60*HZ.
	BacklogWaitTime uint32 // 36
	// BacklogWaitTimeActual sums the jiffies tasks spent waiting.
	BacklogWaitTimeActual uint32 // 40
}

// Marshal encodes s as the 44 bytes AUDIT_SET takes. All 44 bytes are
// always sent: the kernel rejects StatusBacklogWaitTime with EINVAL when the
// payload is shorter than the struct.
func (s Status) Marshal() []byte {
	b := make([]byte, StatusSize)
	le := binary.LittleEndian
	for i, v := range s.fields() {
		le.PutUint32(b[i*4:], v)
	}
	return b
}

func (s Status) fields() [11]uint32 {
	return [11]uint32{s.Mask, s.Enabled, s.Failure, s.PID, s.RateLimit, s.BacklogLimit,
		s.Lost, s.Backlog, s.FeatureBitmap, s.BacklogWaitTime, s.BacklogWaitTimeActual}
}

// ParseStatus decodes an AUDIT_GET payload. Shorter payloads from older
// kernels leave the missing tail zero; extra bytes from newer kernels are
// ignored.
func ParseStatus(b []byte) (Status, error) {
	if len(b) < statusMinSize {
		return Status{}, fmt.Errorf("audit status: %d bytes, want at least %d", len(b), statusMinSize)
	}
	var v [11]uint32
	for i := range v {
		if o := i * 4; o+4 <= len(b) {
			v[i] = binary.LittleEndian.Uint32(b[o:])
		}
	}
	return Status{
		Mask: v[0], Enabled: v[1], Failure: v[2], PID: v[3], RateLimit: v[4],
		BacklogLimit: v[5], Lost: v[6], Backlog: v[7], FeatureBitmap: v[8],
		BacklogWaitTime: v[9], BacklogWaitTimeActual: v[10],
	}, nil
}

// String renders the status in the order auditctl -s prints it.
func (s Status) String() string {
	return fmt.Sprintf("enabled=%d failure=%d pid=%d rate_limit=%d backlog_limit=%d lost=%d backlog=%d feature_bitmap=%#x backlog_wait_time=%d backlog_wait_time_actual=%d",
		s.Enabled, s.Failure, s.PID, s.RateLimit, s.BacklogLimit, s.Lost, s.Backlog,
		s.FeatureBitmap, s.BacklogWaitTime, s.BacklogWaitTimeActual)
}
