package schedule

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"

	"github.com/gosquery/gosquery/internal/logger"
	"github.com/gosquery/gosquery/internal/sqlengine"
)

// rowsFromResult converts a result set to logger rows. Differential results
// have their text escaped first, as osquery does before diffing and
// logging (control bytes and invalid UTF-8 become \xHH), so a row compares
// equal to itself across runs whatever bytes it holds.
func rowsFromResult(res *sqlengine.Result, escape bool) []logger.Row {
	rows := make([]logger.Row, len(res.Rows))
	for i, r := range res.Rows {
		row := make(logger.Row, len(r))
		for j, v := range r {
			row[j].Name = res.Columns[j]
			switch v.Kind {
			case sqlengine.Integer:
				row[j].Value = logger.Int(v.Int)
			case sqlengine.Float:
				row[j].Value = logger.Real(v.Float)
			case sqlengine.Text:
				s := v.Str
				if escape {
					s = logger.EscapeNonPrintable(s)
				}
				row[j].Value = logger.Text(s)
			case sqlengine.Blob:
				s := v.Str
				if escape {
					s = logger.EscapeNonPrintable(s)
				}
				row[j].Value = logger.Blob([]byte(s))
			default:
				row[j].Value = logger.Null()
			}
		}
		rows[i] = row
	}
	return rows
}

// rowKey is a row's identity for the differential: its columns sorted by
// name with typed values, so column order in the SELECT does not matter.
func rowKey(buf []byte, r logger.Row) []byte {
	idx := make([]int, len(r))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(r[a].Name, r[b].Name) })
	for _, i := range idx {
		buf = appendColumn(buf, &r[i])
	}
	return buf
}

// diffRows computes osquery's differential over multisets: added are rows
// of cur beyond their count in prev, removed rows of prev beyond their
// count in cur; each keeps its run's order.
func diffRows(prev, cur []logger.Row) logger.Diff {
	counts := make(map[string]int, len(prev))
	var buf []byte
	for _, r := range prev {
		buf = rowKey(buf[:0], r)
		counts[string(buf)]++
	}
	var d logger.Diff
	for _, r := range cur {
		buf = rowKey(buf[:0], r)
		k := string(buf)
		if counts[k] > 0 {
			counts[k]--
			continue
		}
		d.Added = append(d.Added, r)
	}
	for _, r := range prev {
		buf = rowKey(buf[:0], r)
		k := string(buf)
		if counts[k] > 0 {
			counts[k]--
			d.Removed = append(d.Removed, r)
		}
	}
	return d
}

// The stored result format: row count, then per row its column count and
// columns (name, kind, value). Binary rather than JSON because a large
// result set is read and written on every run.

func appendColumn(b []byte, c *logger.Column) []byte {
	b = binary.AppendUvarint(b, uint64(len(c.Name)))
	b = append(b, c.Name...)
	b = append(b, byte(c.Value.Kind))
	switch c.Value.Kind {
	case logger.KindInteger:
		b = binary.AppendVarint(b, c.Value.Int)
	case logger.KindReal:
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.Value.Real))
	case logger.KindText, logger.KindBlob:
		b = binary.AppendUvarint(b, uint64(len(c.Value.Str)))
		b = append(b, c.Value.Str...)
	}
	return b
}

func encodeRows(rows []logger.Row) []byte {
	b := binary.AppendUvarint(nil, uint64(len(rows)))
	for _, r := range rows {
		b = binary.AppendUvarint(b, uint64(len(r)))
		for i := range r {
			b = appendColumn(b, &r[i])
		}
	}
	return b
}

var errCorruptResults = errors.New("corrupt stored results")

type reader struct{ b []byte }

func (r *reader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		return 0, errCorruptResults
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *reader) bytes() (string, error) {
	n, err := r.uvarint()
	if err != nil || n > uint64(len(r.b)) {
		return "", errCorruptResults
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s, nil
}

func decodeRows(b []byte) ([]logger.Row, error) {
	r := &reader{b}
	n, err := r.uvarint()
	if err != nil || n > uint64(len(b)) {
		return nil, errCorruptResults
	}
	rows := make([]logger.Row, 0, n)
	for range n {
		nc, err := r.uvarint()
		if err != nil || nc > uint64(len(r.b)) {
			return nil, errCorruptResults
		}
		row := make(logger.Row, nc)
		for i := range row {
			name, err := r.bytes()
			if err != nil || len(r.b) == 0 {
				return nil, errCorruptResults
			}
			row[i].Name = name
			kind := logger.Kind(r.b[0])
			r.b = r.b[1:]
			switch kind {
			case logger.KindNull:
				row[i].Value = logger.Null()
			case logger.KindInteger:
				v, n := binary.Varint(r.b)
				if n <= 0 {
					return nil, errCorruptResults
				}
				r.b = r.b[n:]
				row[i].Value = logger.Int(v)
			case logger.KindReal:
				if len(r.b) < 8 {
					return nil, errCorruptResults
				}
				row[i].Value = logger.Real(math.Float64frombits(binary.LittleEndian.Uint64(r.b)))
				r.b = r.b[8:]
			case logger.KindText, logger.KindBlob:
				s, err := r.bytes()
				if err != nil {
					return nil, err
				}
				row[i].Value = logger.Value{Kind: kind, Str: s}
			default:
				return nil, errCorruptResults
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}
