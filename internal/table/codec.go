package table

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"unsafe"
)

// The row codec turns a typed row into bytes and back, for rows that are
// stored before they are queried (event buffers). Each column is written
// with its name, so rows written by an older build whose table had fewer
// or other columns still decode: unknown names are skipped and missing
// columns keep their zero value.

type codecKey struct {
	spec *Spec
	typ  reflect.Type
}

var codecs sync.Map // codecKey -> *layout

func codecLayout[R any](spec *Spec) (*layout, error) {
	k := codecKey{spec, reflect.TypeFor[R]()}
	if l, ok := codecs.Load(k); ok {
		return l.(*layout), nil
	}
	l, err := newLayout(spec, k.typ)
	if err != nil {
		return nil, err
	}
	codecs.Store(k, l)
	return l, nil
}

// value kinds on the wire
const (
	wireNull  = 0
	wireInt   = 1
	wireFloat = 2
	wireText  = 3
	wireBlob  = 4
)

// rowEncoder is a ValueWriter appending wire values.
type rowEncoder struct{ buf []byte }

func (e *rowEncoder) Null()         { e.buf = append(e.buf, wireNull) }
func (e *rowEncoder) Int64(v int64) { e.buf = binary.AppendVarint(append(e.buf, wireInt), v) }
func (e *rowEncoder) Float64(v float64) {
	e.buf = binary.LittleEndian.AppendUint64(append(e.buf, wireFloat), math.Float64bits(v))
}
func (e *rowEncoder) Text(v string) {
	e.buf = append(binary.AppendUvarint(append(e.buf, wireText), uint64(len(v))), v...)
}
func (e *rowEncoder) Blob(v []byte) {
	e.buf = append(binary.AppendUvarint(append(e.buf, wireBlob), uint64(len(v))), v...)
}

// EncodeRow appends the encoding of row (a row struct of spec) to dst.
func EncodeRow[R any](dst []byte, spec *Spec, row *R) ([]byte, error) {
	l, err := codecLayout[R](spec)
	if err != nil {
		return nil, err
	}
	if cap(dst) == 0 {
		dst = make([]byte, 0, l.encSize.Load()*9/8)
	}
	e := rowEncoder{buf: dst}
	for i, c := range spec.Columns {
		e.buf = append(binary.AppendUvarint(e.buf, uint64(len(c.Name))), c.Name...)
		l.write(unsafe.Pointer(row), i, &e)
	}
	l.encSize.Store(int64(min(len(e.buf), maxEncSizeHint)))
	return e.buf, nil
}

// maxEncSizeHint caps the size hint, so one huge row (thousands of
// arguments) does not make every later buffer huge.
const maxEncSizeHint = 64 << 10

var errCorruptRow = errors.New("corrupt stored row")

// DecodeRow fills row from bytes EncodeRow produced.
func DecodeRow[R any](b []byte, spec *Spec, row *R) error {
	l, err := codecLayout[R](spec)
	if err != nil {
		return err
	}
	p := unsafe.Pointer(row)
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return errCorruptRow
		}
		name := string(b[k : k+int(n)])
		b = b[k+int(n):]
		if len(b) == 0 {
			return errCorruptRow
		}
		kind := b[0]
		b = b[1:]
		var (
			iv   int64
			fv   float64
			sv   []byte
			size int
		)
		switch kind {
		case wireNull:
		case wireInt:
			iv, size = binary.Varint(b)
			if size <= 0 {
				return errCorruptRow
			}
		case wireFloat:
			if len(b) < 8 {
				return errCorruptRow
			}
			fv, size = math.Float64frombits(binary.LittleEndian.Uint64(b)), 8
		case wireText, wireBlob:
			m, k := binary.Uvarint(b)
			if k <= 0 || m > uint64(len(b)-k) {
				return errCorruptRow
			}
			sv, size = b[k:k+int(m)], k+int(m)
		default:
			return fmt.Errorf("%w: value kind %d", errCorruptRow, kind)
		}
		b = b[size:]
		if i := spec.Column(name); i >= 0 {
			l.read(p, i, kind, iv, fv, sv)
		}
	}
	return nil
}

// read stores a decoded value into column i of the row at p, converting
// between compatible kinds; a mismatch leaves the zero value.
func (l *layout) read(p unsafe.Pointer, i int, kind byte, iv int64, fv float64, sv []byte) {
	f := unsafe.Add(p, l.offsets[i])
	switch l.kinds[i] {
	case kindString:
		if kind == wireText || kind == wireBlob {
			*(*string)(f) = string(sv)
		}
	case kindBytes:
		if kind == wireText || kind == wireBlob {
			*(*[]byte)(f) = append([]byte(nil), sv...)
		}
	case kindInt64:
		*(*int64)(f) = iv
	case kindInt32:
		*(*int32)(f) = int32(iv)
	case kindInt:
		*(*int)(f) = int(iv)
	case kindUint32:
		*(*uint32)(f) = uint32(iv)
	case kindUint64:
		*(*uint64)(f) = uint64(iv)
	case kindFloat64:
		*(*float64)(f) = fv
	case kindBool:
		*(*bool)(f) = iv != 0
	case kindNullInt:
		*(*NullInt)(f) = NullInt{Int: iv, Valid: kind == wireInt}
	case kindNullFloat:
		*(*NullFloat)(f) = NullFloat{Float: fv, Valid: kind == wireFloat}
	}
}
