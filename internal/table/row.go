package table

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"unsafe"
)

// NullInt is an integer column value that may be NULL (osquery leaves some
// numeric columns empty, which SQLite sees as NULL).
type NullInt struct {
	Int   int64
	Valid bool
}

// Int returns a valid NullInt.
func Int(v int64) NullInt { return NullInt{Int: v, Valid: true} }

// NullFloat is a DOUBLE column value that may be NULL.
type NullFloat struct {
	Float float64
	Valid bool
}

// Float returns a valid NullFloat.
func Float(v float64) NullFloat { return NullFloat{Float: v, Valid: true} }

// ValueWriter receives one column value. The SQL engine implements it on top
// of SQLite's result API; tests implement it to collect rows.
type ValueWriter interface {
	Null()
	Int64(int64)
	Float64(float64)
	Text(string)
	Blob([]byte)
}

// fieldKind is how a row struct field is read.
type fieldKind uint8

const (
	kindString fieldKind = iota + 1
	kindBytes
	kindInt64
	kindInt32
	kindInt
	kindUint32
	kindUint64
	kindFloat64
	kindBool
	kindNullInt
	kindNullFloat
)

// layout maps each spec column to a field of the row struct, computed once
// at registration so that reading a cell is a pointer offset, not reflection.
type layout struct {
	offsets []uintptr
	kinds   []fieldKind
	// encSize is the size of the last row EncodeRow wrote: rows of one
	// table are alike, so a new buffer of about that size is allocated
	// once instead of grown a dozen times.
	encSize atomic.Int64
}

var (
	nullIntType   = reflect.TypeFor[NullInt]()
	nullFloatType = reflect.TypeFor[NullFloat]()
)

// newLayout checks that every field tagged `col:"name"` names a column of
// the spec with a compatible type and that every column has exactly one
// field, so a misspelled or forgotten column fails at registration.
func newLayout(spec *Spec, rowType reflect.Type) (*layout, error) {
	if rowType.Kind() != reflect.Struct {
		return nil, fmt.Errorf("table %s: row type %s is not a struct", spec.Name, rowType)
	}
	l := &layout{
		offsets: make([]uintptr, len(spec.Columns)),
		kinds:   make([]fieldKind, len(spec.Columns)),
	}
	for i := 0; i < rowType.NumField(); i++ {
		f := rowType.Field(i)
		name, ok := f.Tag.Lookup("col")
		if !ok {
			continue
		}
		idx := spec.Column(name)
		if idx < 0 {
			return nil, fmt.Errorf("table %s: field %s names column %q, which the spec does not declare", spec.Name, f.Name, name)
		}
		if l.kinds[idx] != 0 {
			return nil, fmt.Errorf("table %s: column %s is bound to two fields", spec.Name, name)
		}
		kind, err := fieldKindOf(f.Type, spec.Columns[idx].Type)
		if err != nil {
			return nil, fmt.Errorf("table %s: field %s (column %s): %w", spec.Name, f.Name, name, err)
		}
		l.offsets[idx] = f.Offset
		l.kinds[idx] = kind
	}
	for i, k := range l.kinds {
		if k == 0 {
			return nil, fmt.Errorf("table %s: column %s has no field tagged col:%q in %s", spec.Name, spec.Columns[i].Name, spec.Columns[i].Name, rowType)
		}
	}
	return l, nil
}

func fieldKindOf(t reflect.Type, col Type) (fieldKind, error) {
	integer := col == TypeInteger || col == TypeBigInt || col == TypeUnsignedBigInt
	switch {
	case t == nullIntType && integer:
		return kindNullInt, nil
	case t == nullFloatType && col == TypeDouble:
		return kindNullFloat, nil
	}
	switch t.Kind() {
	case reflect.String:
		if col == TypeText || col == TypeBlob {
			return kindString, nil
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && (col == TypeText || col == TypeBlob) {
			return kindBytes, nil
		}
	case reflect.Int64:
		if integer {
			return kindInt64, nil
		}
	case reflect.Int32:
		if integer {
			return kindInt32, nil
		}
	case reflect.Int:
		if integer {
			return kindInt, nil
		}
	case reflect.Uint32:
		if integer {
			return kindUint32, nil
		}
	case reflect.Uint64:
		if integer {
			return kindUint64, nil
		}
	case reflect.Bool:
		if integer {
			return kindBool, nil
		}
	case reflect.Float64:
		if col == TypeDouble {
			return kindFloat64, nil
		}
	}
	return 0, fmt.Errorf("Go type %s does not fit SQL type %s", t, col)
}

// write hands column i of the row at p to w.
func (l *layout) write(p unsafe.Pointer, i int, w ValueWriter) {
	f := unsafe.Add(p, l.offsets[i])
	switch l.kinds[i] {
	case kindString:
		w.Text(*(*string)(f))
	case kindBytes:
		w.Blob(*(*[]byte)(f))
	case kindInt64:
		w.Int64(*(*int64)(f))
	case kindInt32:
		w.Int64(int64(*(*int32)(f)))
	case kindInt:
		w.Int64(int64(*(*int)(f)))
	case kindUint32:
		w.Int64(int64(*(*uint32)(f)))
	case kindUint64:
		// SQLite has no unsigned type; osquery hands UNSIGNED BIGINT over as
		// the same 64 bits, so large values read back negative there too.
		w.Int64(int64(*(*uint64)(f)))
	case kindFloat64:
		w.Float64(*(*float64)(f))
	case kindBool:
		if *(*bool)(f) {
			w.Int64(1)
		} else {
			w.Int64(0)
		}
	case kindNullInt:
		if v := (*NullInt)(f); v.Valid {
			w.Int64(v.Int)
		} else {
			w.Null()
		}
	case kindNullFloat:
		if v := (*NullFloat)(f); v.Valid {
			w.Float64(v.Float)
		} else {
			w.Null()
		}
	}
}
