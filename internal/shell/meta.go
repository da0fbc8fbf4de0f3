package shell

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gosquery/gosquery/internal/sqlengine"
)

const helpText = `Welcome to the osquery shell. Please explore your OS!
You are connected to a transient 'in-memory' virtual database.

.all [TABLE]     Select all from a table
.bail ON|OFF     Stop after hitting an error
.connect PATH    Connect to an osquery extension socket
.disconnect      Disconnect from a connected extension socket
.echo ON|OFF     Turn command echo on or off
.exit            Exit this program
.features        List osquery's features and their statuses
.headers ON|OFF  Turn display of headers on or off
.help            Show this message
.mode MODE       Set output mode where MODE is one of:
                   csv      Comma-separated values
                   column   Left-aligned columns see .width
                   line     One value per line
                   list     Values delimited by .separator string
                   pretty   Pretty printed SQL results (default)
.nullvalue STR   Use STRING in place of NULL values
.print STR...    Print literal STRING
.quit            Exit this program
.schema [TABLE]  Show the CREATE statements
.separator STR   Change separator used by output mode
.socket          Show the local osquery extensions socket path
.show            Show the current values for various settings
.summary         Alias for the show meta command
.tables [TABLE]  List names of tables
.types [SQL]     Show result of getQueryColumns for the given query
.width [NUM1]+   Set column widths for "column" mode
.timer ON|OFF      Turn the CPU timer measurement on or off
`

// metaArgs splits a meta command line like sqlite3's shell: whitespace
// separated, with '...' and "..." quoting (backslash escapes in the latter
// and in bare words).
func metaArgs(line string) []string {
	var args []string
	i := 1 // skip the '.'
	for i < len(line) && len(args) < 50 {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			break
		}
		if q := line[i]; q == '\'' || q == '"' {
			i++
			start := i
			for i < len(line) && line[i] != q {
				if line[i] == '\\' && q == '"' && i+1 < len(line) {
					i++
				}
				i++
			}
			arg := line[start:i]
			if i < len(line) {
				i++
			}
			if q == '"' {
				arg = resolveBackslashes(arg)
			}
			args = append(args, arg)
			continue
		}
		start := i
		for i < len(line) && !isSpace(line[i]) {
			i++
		}
		args = append(args, resolveBackslashes(line[start:i]))
	}
	return args
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// resolveBackslashes applies C escapes: \n \t \r \\ and \NNN octal.
func resolveBackslashes(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch c = s[i]; {
		case c == 'n':
			b.WriteByte('\n')
		case c == 't':
			b.WriteByte('\t')
		case c == 'r':
			b.WriteByte('\r')
		case c >= '0' && c <= '7':
			v := int(c - '0')
			for k := 0; k < 2 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '7'; k++ {
				i++
				v = v<<3 + int(s[i]-'0')
			}
			b.WriteByte(byte(v))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// booleanValue reads ON/OFF/YES/NO or a number, as sqlite3's shell does.
func (s *Shell) booleanValue(arg string) bool {
	if n, err := strconv.ParseInt(arg, 0, 64); err == nil {
		return n != 0
	}
	switch strings.ToLower(arg) {
	case "on", "yes", "true":
		return true
	case "off", "no", "false":
		return false
	}
	fmt.Fprintf(s.Err, "ERROR: Not a boolean value: \"%s\". Assuming \"no\".\n", arg)
	return false
}

// is reports whether word is a prefix of command, as sqlite3's strncmp test.
func is(word, command string) bool {
	return word != "" && strings.HasPrefix(command, word)
}

// Meta runs one meta command line. It returns 1 for an error, 0 otherwise;
// an exitRequest error ends the session.
func (s *Shell) Meta(ctx context.Context, line string) (int, error) {
	args := metaArgs(line)
	if len(args) == 0 {
		return 0, nil
	}
	cmd, n := args[0], len(args)
	// The order follows osquery's shell, which matters for short prefixes:
	// ".s" is .socket, ".t" is not a command.
	switch {
	case is(cmd, "all") && n == 2:
		rc, err := s.runStatements(ctx, "SELECT * FROM "+args[1])
		if err != nil {
			fmt.Fprintf(s.Err, "Error querying table: %s\n", args[1])
			return 1, nil
		}
		return rc, nil
	case is(cmd, "socket") && n == 1:
		fmt.Fprintln(s.Out, s.Flags.Get("extensions_socket"))
	case len(cmd) >= 3 && is(cmd, "bail") && n == 2:
		s.Bail = s.booleanValue(args[1])
	case is(cmd, "connect") && len(cmd) >= 2 && n == 2:
		return s.connect(args[1]), nil
	case is(cmd, "disconnect") && len(cmd) >= 2 && n == 1:
		if s.connected != "" {
			s.Exec, s.connected = s.Local, ""
		}
	case is(cmd, "echo") && n == 2:
		s.Echo = s.booleanValue(args[1])
	case is(cmd, "exit"):
		code := 0
		if n > 1 {
			v, _ := strconv.ParseInt(args[1], 0, 32)
			code = int(v)
		}
		return 0, exitRequest{code}
	case is(cmd, "features") && n == 1:
		for _, f := range s.Flags.All() {
			if f.Type == "bool" && (strings.HasPrefix(f.Name, "disable_") || strings.HasPrefix(f.Name, "enable_")) {
				fmt.Fprintf(s.Out, "%s: %s\n", f.Name, f.Value)
			}
		}
	case (is(cmd, "header") || is(cmd, "headers")) && n == 2:
		s.Printer.Header = s.booleanValue(args[1])
	case is(cmd, "help"):
		fmt.Fprint(s.Err, helpText)
	case is(cmd, "mode") && n == 2:
		switch args[1] {
		case "line", "lines":
			s.Printer.Mode = ModeLine
		case "column", "columns":
			s.Printer.Mode = ModeColumn
		case "list":
			s.Printer.Mode = ModeList
		case "pretty":
			s.Printer.Mode = ModePretty
		case "csv":
			s.Printer.Mode = ModeCSV
			s.Printer.Separator = ","
		case "json":
			s.Printer.Mode = ModeJSON
		case "json_pretty":
			s.Printer.Mode = ModeJSONPretty
		default:
			fmt.Fprintln(s.Err, "Error: mode should be one of: column csv json json_pretty line list pretty")
			return 1, nil
		}
	case is(cmd, "nullvalue") && n == 2:
		s.Printer.NullValue = args[1]
	case len(cmd) >= 3 && is(cmd, "print"):
		fmt.Fprintln(s.Out, strings.Join(args[1:], " "))
	case is(cmd, "quit") && n == 1:
		return 0, exitRequest{0}
	case is(cmd, "schema") && n < 3:
		prefix := ""
		if n == 2 {
			prefix = args[1]
		}
		for _, d := range s.Tables.All() {
			if strings.HasPrefix(d.Spec.Name, prefix) {
				fmt.Fprintf(s.Out, "%s;\n", d.Spec.CreateTableSQL())
			}
		}
	case is(cmd, "separator") && n == 2:
		s.Printer.Separator = args[1]
	case (is(cmd, "show") || is(cmd, "summary")) && n == 1:
		s.show()
	case len(cmd) > 1 && (is(cmd, "tables") || is(cmd, "list")) && n < 3:
		prefix := ""
		if n == 2 {
			prefix = args[1]
		}
		for _, name := range s.Tables.Names() {
			if strings.HasPrefix(name, prefix) {
				fmt.Fprintf(s.Out, "  => %s\n", name)
			}
		}
	case len(cmd) > 4 && is(cmd, "timeout") && n == 2:
		// SQLite's busy timeout has no meaning for osquery's in-memory
		// database; accepted for compatibility.
	case len(cmd) >= 5 && is(cmd, "timer") && n == 2:
		s.Timer = s.booleanValue(args[1])
	case len(cmd) >= 2 && is(cmd, "types") && n >= 2:
		return s.types(ctx, strings.Join(args[1:], " ")), nil
	case is(cmd, "version"):
		s.version()
	case is(cmd, "width") && n > 1:
		s.Printer.Widths = s.Printer.Widths[:0]
		for _, a := range args[1:] {
			v, _ := strconv.Atoi(a)
			s.Printer.Widths = append(s.Printer.Widths, v)
		}
	default:
		fmt.Fprintf(s.Err, "Error: unknown command or invalid arguments:  \"%s\". Enter \".help\" for help\n", cmd)
		return 1, nil
	}
	return 0, nil
}

func (s *Shell) version() {
	fmt.Fprintf(s.Out, "osquery %s\n", s.Version)
	fmt.Fprintf(s.Out, "using SQLite %s\n", sqlengine.Version())
}

func (s *Shell) types(ctx context.Context, sql string) int {
	cols, err := s.Exec.Columns(ctx, sql)
	if err != nil {
		fmt.Fprintf(s.Err, "Error: %v\n", err)
		return 1
	}
	res := &sqlengine.Result{Columns: []string{"name", "type"}}
	for _, c := range cols {
		res.Rows = append(res.Rows, []sqlengine.Value{
			{Kind: sqlengine.Text, Str: c.Name}, {Kind: sqlengine.Text, Str: c.Type},
		})
	}
	s.Printer.Print(s.Out, res)
	return 0
}

func (s *Shell) connect(path string) int {
	if s.Connect == nil {
		fmt.Fprintln(s.Err, "Error: extensions are not available in this build")
		return 1
	}
	ex, err := s.Connect(path)
	if err != nil {
		fmt.Fprintf(s.Err, "Error: %v\n", err)
		return 1
	}
	s.Exec, s.connected = ex, path
	return 0
}

// cString quotes s as C source, as osquery's .show prints settings.
func cString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '"':
			b.WriteString(`\"`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (s *Shell) show() {
	f := s.Flags
	out := s.Out
	fmt.Fprintln(out, "osquery - being built, with love.\n~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~")
	s.version()
	fmt.Fprintln(out, "\nGeneral settings:")
	fmt.Fprintf(out, "%13s: %s\n", "Flagfile", f.Get("flagfile"))
	switch plugin := f.Get("config_plugin"); plugin {
	case "filesystem":
		fmt.Fprintf(out, "%13s: %s (%s)\n", "Config", plugin, f.Get("config_path"))
	case "tls":
		fmt.Fprintf(out, "%13s: %s (%s%s)\n", "Config", plugin, f.Get("tls_hostname"), f.Get("config_tls_endpoint"))
	default:
		fmt.Fprintf(out, "%13s: %s\n", "Config", plugin)
	}
	switch plugin := f.Get("logger_plugin"); plugin {
	case "filesystem":
		fmt.Fprintf(out, "%13s: %s (%s)\n", "Logger", plugin, f.Get("logger_path"))
	case "tls":
		fmt.Fprintf(out, "%13s: %s (%s%s)\n", "Logger", plugin, f.Get("tls_hostname"), f.Get("logger_tls_endpoint"))
	default:
		fmt.Fprintf(out, "%13s: %s\n", "Logger", plugin)
	}
	fmt.Fprintf(out, "%13s: %s\n", "Distributed", f.Get("distributed_plugin"))
	if f.Bool("disable_database") {
		fmt.Fprintf(out, "%13s: %s\n", "Database", "ephemeral")
	} else {
		fmt.Fprintf(out, "%13s: %s (%s)\n", "Database", "sqlite", f.Get("database_path"))
	}
	fmt.Fprintf(out, "%13s: %s\n", "Extensions", "core")
	socket := f.Get("extensions_socket")
	if s.connected != "" {
		socket += " (connected to " + s.connected + ")"
	}
	fmt.Fprintf(out, "%13s: %s\n", "Socket", socket)
	fmt.Fprintln(out, "\nShell settings:")
	onOff := map[bool]string{true: "on", false: "off"}
	fmt.Fprintf(out, "%13s: %s\n", "echo", onOff[s.Echo])
	fmt.Fprintf(out, "%13s: %s\n", "headers", onOff[s.Printer.Header])
	fmt.Fprintf(out, "%13s: %s\n", "mode", s.Printer.Mode)
	fmt.Fprintf(out, "%13s: %s\n", "nullvalue", cString(s.Printer.NullValue))
	fmt.Fprintf(out, "%13s: %s\n", "output", "stdout")
	fmt.Fprintf(out, "%13s: %s\n", "separator", cString(s.Printer.Separator))
	var widths strings.Builder
	for _, w := range s.Printer.Widths {
		fmt.Fprintf(&widths, "%d ", w)
	}
	fmt.Fprintf(out, "%13s: %s\n", "width", widths.String())
	fmt.Fprintln(out, "\nNon-default flags/options:")
	for _, fl := range f.All() {
		if fl.Value != fl.Default {
			fmt.Fprintf(out, "  %s: %s\n", fl.Name, fl.Value)
		}
	}
}
