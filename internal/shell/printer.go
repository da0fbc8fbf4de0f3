package shell

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gosquery/gosquery/internal/jsonw"
	"github.com/gosquery/gosquery/internal/sqlengine"
)

// Mode is an output mode.
type Mode int

// Output modes, as osquery's shell names them.
const (
	ModePretty Mode = iota
	ModeJSON
	ModeJSONPretty
	ModeLine
	ModeList
	ModeCSV
	ModeColumn
)

func (m Mode) String() string {
	switch m {
	case ModeJSON:
		return "json"
	case ModeJSONPretty:
		return "json_pretty"
	case ModeLine:
		return "line"
	case ModeList:
		return "list"
	case ModeCSV:
		return "csv"
	case ModeColumn:
		return "column"
	}
	return "pretty"
}

// Printer formats result sets. Its settings are the shell's .mode, .headers,
// .separator, .nullvalue and .width.
type Printer struct {
	Mode      Mode
	Header    bool
	Separator string
	NullValue string
	Widths    []int
}

// cell renders one value; NULL becomes the null value.
func (p *Printer) cell(v sqlengine.Value) string {
	if v.Kind == sqlengine.Null {
		return p.NullValue
	}
	return v.String()
}

// Print writes one statement's result.
func (p *Printer) Print(w io.Writer, res *sqlengine.Result) {
	switch p.Mode {
	case ModeJSON:
		p.printJSON(w, res, false)
	case ModeJSONPretty:
		p.printJSON(w, res, true)
	case ModeLine:
		p.printLine(w, res)
	case ModeList:
		p.printList(w, res)
	case ModeCSV:
		p.printCSV(w, res)
	case ModeColumn:
		p.printColumn(w, res)
	default:
		p.printPretty(w, res)
	}
}

// printPretty draws osquery's bordered table. Widths count UTF-8 code points
// as osquery does; nothing is printed for an empty result.
func (p *Printer) printPretty(w io.Writer, res *sqlengine.Result) {
	if len(res.Rows) == 0 {
		return
	}
	widths := make([]int, len(res.Columns))
	for i, c := range res.Columns {
		widths[i] = utf8.RuneCountInString(c)
	}
	cells := make([][]string, len(res.Rows))
	for r, row := range res.Rows {
		cells[r] = make([]string, len(row))
		for i, v := range row {
			s := p.cell(v)
			cells[r][i] = s
			widths[i] = max(widths[i], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	rule := func() {
		b.WriteByte('+')
		for _, wd := range widths {
			b.WriteString(strings.Repeat("-", wd+2))
			b.WriteByte('+')
		}
		b.WriteByte('\n')
	}
	line := func(vals []string) {
		for i, v := range vals {
			b.WriteString("| ")
			b.WriteString(v)
			b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(v)+1))
		}
		b.WriteString("|\n")
	}
	rule()
	line(res.Columns)
	rule()
	for _, row := range cells {
		line(row)
	}
	rule()
	io.WriteString(w, b.String())
}

// printJSON writes an array of objects with keys sorted and every value a
// string, as osquery's shell does.
func (p *Printer) printJSON(w io.Writer, res *sqlengine.Result, pretty bool) {
	order := make([]int, len(res.Columns))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(res.Columns[a], res.Columns[b]) })
	var buf []byte
	buf = append(buf, "[\n"...)
	for r, row := range res.Rows {
		if pretty {
			buf = append(buf, "  {\n"...)
			for k, i := range order {
				buf = append(buf, "    "...)
				buf = jsonw.AppendString(buf, res.Columns[i])
				buf = append(buf, ": "...)
				buf = jsonw.AppendString(buf, p.cell(row[i]))
				if k < len(order)-1 {
					buf = append(buf, ',')
				}
				buf = append(buf, '\n')
			}
			buf = append(buf, "  }"...)
		} else {
			buf = append(buf, "  {"...)
			for k, i := range order {
				buf = jsonw.AppendKey(buf, res.Columns[i], k == 0)
				buf = jsonw.AppendString(buf, p.cell(row[i]))
			}
			buf = append(buf, '}')
		}
		if r < len(res.Rows)-1 {
			buf = append(buf, ',')
		}
		buf = append(buf, '\n')
	}
	if len(res.Rows) == 0 {
		buf = append(buf, '\n')
	}
	buf = append(buf, "]\n"...)
	w.Write(buf)
}

// printLine writes "name = value" per column, names right-aligned to the
// widest (at least 5), with a blank line between rows (sqlite3's line mode).
func (p *Printer) printLine(w io.Writer, res *sqlengine.Result) {
	width := 5
	for _, c := range res.Columns {
		width = max(width, len(c))
	}
	for r, row := range res.Rows {
		if r > 0 {
			io.WriteString(w, "\n")
		}
		for i, v := range row {
			fmt.Fprintf(w, "%*s = %s\n", width, res.Columns[i], p.cell(v))
		}
	}
}

func (p *Printer) printList(w io.Writer, res *sqlengine.Result) {
	if len(res.Rows) == 0 {
		return
	}
	if p.Header {
		io.WriteString(w, strings.Join(res.Columns, p.Separator)+"\n")
	}
	vals := make([]string, len(res.Columns))
	for _, row := range res.Rows {
		for i, v := range row {
			vals[i] = p.cell(v)
		}
		io.WriteString(w, strings.Join(vals, p.Separator)+"\n")
	}
}

// csvNeedsQuote reports whether sqlite3's CSV writer quotes s: it quotes
// any field holding a space or a control byte, a quote of either kind, a
// byte outside ASCII, or the separator.
func csvNeedsQuote(s, sep string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '"' || c == '\'' || c >= 0x7f {
			return true
		}
	}
	return sep != "" && strings.Contains(s, sep)
}

func (p *Printer) csvField(s string, null bool) string {
	if null {
		return p.NullValue
	}
	if !csvNeedsQuote(s, p.Separator) {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func (p *Printer) printCSV(w io.Writer, res *sqlengine.Result) {
	if len(res.Rows) == 0 {
		return
	}
	vals := make([]string, len(res.Columns))
	if p.Header {
		for i, c := range res.Columns {
			vals[i] = p.csvField(c, false)
		}
		io.WriteString(w, strings.Join(vals, p.Separator)+"\n")
	}
	for _, row := range res.Rows {
		for i, v := range row {
			vals[i] = p.csvField(v.String(), v.Kind == sqlengine.Null)
		}
		io.WriteString(w, strings.Join(vals, p.Separator)+"\n")
	}
}

// printColumn is sqlite3's column mode: each column as wide as its .width
// setting, or the wider of its name, 10 and the first row's value; longer
// values are cut.
func (p *Printer) printColumn(w io.Writer, res *sqlengine.Result) {
	if len(res.Rows) == 0 {
		return
	}
	widths := make([]int, len(res.Columns))
	for i, c := range res.Columns {
		if i < len(p.Widths) && p.Widths[i] != 0 {
			widths[i] = p.Widths[i]
			continue
		}
		widths[i] = max(10, len(c), len(p.cell(res.Rows[0][i])))
	}
	pad := func(s string, wd int) string {
		right := wd < 0
		if right {
			wd = -wd
		}
		if len(s) > wd {
			s = s[:wd]
		}
		if right {
			return strings.Repeat(" ", wd-len(s)) + s
		}
		return s + strings.Repeat(" ", wd-len(s))
	}
	line := func(vals []string) {
		for i, v := range vals {
			io.WriteString(w, pad(v, widths[i]))
			if i < len(vals)-1 {
				io.WriteString(w, "  ")
			}
		}
		io.WriteString(w, "\n")
	}
	if p.Header {
		line(res.Columns)
		dashes := make([]string, len(widths))
		for i, wd := range widths {
			dashes[i] = strings.Repeat("-", max(wd, -wd))
		}
		line(dashes)
	}
	vals := make([]string, len(res.Columns))
	for _, row := range res.Rows {
		for i, v := range row {
			vals[i] = p.cell(v)
		}
		line(vals)
	}
}
