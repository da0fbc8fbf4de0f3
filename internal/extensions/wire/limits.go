// Package wire is the Thrift plumbing shared by the extension manager (the
// core) and the extension SDK: osquery's transport (a unix socket, buffered
// transport, binary protocol with versioned message headers), a server that
// survives hostile clients, and a client with per-call deadlines.
//
// The generated code trusts the sizes it reads: a list or map header makes
// it preallocate that many elements, and Thrift's own checks allow strings
// and containers up to 100 MiB. Everything read here goes through
// limitedProtocol, which refuses oversized strings and containers before
// anything is allocated, and through a per-message byte budget, so a
// garbage frame costs an error, not the process.
package wire

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/thrift/lib/go/thrift"
)

// Limits bounds what one peer may make us allocate.
type Limits struct {
	// MaxString is the longest string or binary accepted.
	MaxString int32
	// MaxList and MaxMap bound the element counts of lists/sets and maps.
	MaxList int32
	MaxMap  int32
	// MaxMessage is the number of bytes one message may take on the wire.
	MaxMessage int64
}

// Defaults. osquery leaves strings unbounded (--thrift_string_size_limit=0);
// a cap is kept anyway because a single length prefix would otherwise
// decide how much the daemon allocates.
const (
	DefaultMaxString = 16 << 20
	// maxMethodName bounds the name in an unversioned message header.
	maxMethodName = 1 << 10
)

// ServerLimits are for requests arriving at a server: requests are small
// (a query, a plugin request, route info), so containers are kept small.
func ServerLimits(maxString int32) Limits {
	if maxString <= 0 {
		maxString = DefaultMaxString
	}
	return Limits{MaxString: maxString, MaxList: 1 << 16, MaxMap: 1 << 16, MaxMessage: 4*int64(maxString) + 1<<20}
}

// ClientLimits are for responses a client reads: query results and table
// rows may be long lists, so lists get more room.
func ClientLimits(maxString int32) Limits {
	if maxString <= 0 {
		maxString = DefaultMaxString
	}
	return Limits{MaxString: maxString, MaxList: 1 << 24, MaxMap: 1 << 16, MaxMessage: 1 << 30}
}

func (l Limits) config() *thrift.TConfiguration {
	return &thrift.TConfiguration{
		// Thrift checks strings and container sizes against MaxMessageSize;
		// limitedProtocol applies the finer container limits.
		MaxMessageSize:     l.MaxString,
		TBinaryStrictRead:  thrift.BoolPtr(false),
		TBinaryStrictWrite: thrift.BoolPtr(true),
	}
}

// limitedProtocol is the binary protocol with size checks done before the
// generated code allocates.
type limitedProtocol struct {
	thrift.TProtocol
	trans io.Reader
	lim   Limits
}

func newProtocol(trans thrift.TTransport, lim Limits) *limitedProtocol {
	return &limitedProtocol{TProtocol: thrift.NewTBinaryProtocolConf(trans, lim.config()), trans: trans, lim: lim}
}

func sizeError(what string, n, max int32) error {
	return thrift.NewTProtocolExceptionWithType(thrift.SIZE_LIMIT, fmt.Errorf("%s size %d exceeds the limit of %d", what, n, max))
}

// ReadMessageBegin reads a versioned or old-style header; the old style
// starts with the name's length, which is bounded here rather than trusted.
func (p *limitedProtocol) ReadMessageBegin(ctx context.Context) (string, thrift.TMessageType, int32, error) {
	size, err := p.ReadI32(ctx)
	if err != nil {
		return "", 0, 0, err
	}
	if size < 0 {
		typeID := thrift.TMessageType(size & 0xff)
		if uint32(size)&thrift.VERSION_MASK != thrift.VERSION_1 {
			return "", typeID, 0, thrift.NewTProtocolExceptionWithType(thrift.BAD_VERSION, fmt.Errorf("bad version in message header"))
		}
		name, err := p.ReadString(ctx)
		if err != nil {
			return "", typeID, 0, err
		}
		seq, err := p.ReadI32(ctx)
		return name, typeID, seq, err
	}
	if size > maxMethodName {
		return "", 0, 0, sizeError("method name", size, maxMethodName)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(p.trans, buf); err != nil {
		return "", 0, 0, thrift.NewTProtocolException(err)
	}
	typ, err := p.ReadByte(ctx)
	if err != nil {
		return "", 0, 0, err
	}
	seq, err := p.ReadI32(ctx)
	return string(buf), thrift.TMessageType(typ), seq, err
}

func (p *limitedProtocol) ReadMapBegin(ctx context.Context) (thrift.TType, thrift.TType, int, error) {
	k, v, n, err := p.TProtocol.ReadMapBegin(ctx)
	if err == nil && n > int(p.lim.MaxMap) {
		err = sizeError("map", int32(n), p.lim.MaxMap)
	}
	return k, v, n, err
}

func (p *limitedProtocol) ReadListBegin(ctx context.Context) (thrift.TType, int, error) {
	t, n, err := p.TProtocol.ReadListBegin(ctx)
	if err == nil && n > int(p.lim.MaxList) {
		err = sizeError("list", int32(n), p.lim.MaxList)
	}
	return t, n, err
}

func (p *limitedProtocol) ReadSetBegin(ctx context.Context) (thrift.TType, int, error) {
	t, n, err := p.TProtocol.ReadSetBegin(ctx)
	if err == nil && n > int(p.lim.MaxList) {
		err = sizeError("set", int32(n), p.lim.MaxList)
	}
	return t, n, err
}

// Skip must go through the limited methods above, not the embedded ones.
func (p *limitedProtocol) Skip(ctx context.Context, t thrift.TType) error {
	return thrift.SkipDefaultDepth(ctx, p, t)
}
