package logger

import (
	"strconv"

	"github.com/gosquery/gosquery/internal/jsonw"
	"github.com/gosquery/gosquery/internal/logging"
)

// StatusEnvelope holds what a buffered plugin adds to each status line.
type StatusEnvelope struct {
	HostIdentifier string
	// Version is the osquery version reported (version.Osquery).
	Version             string
	Decorations         []Decoration
	DecorationsTopLevel bool
}

// AppendStatusJSON appends one status as the buffered plugins (tls,
// aws_kinesis, aws_firehose) store and send it (plugins/logger/buffered.cpp),
// without newline:
// `{"hostIdentifier":...,"calendarTime":...,"unixTime":n,"severity":n,
// "filename":...,"line":n,"message":...,"version":...[,"decorations":{...}]}`.
// calendarTime and unixTime come from the status time; decorations go
// top-level with DecorationsTopLevel, replacing a key of the same name as
// RapidJSON does. The message is not escaped beyond JSON.
func AppendStatusJSON(dst []byte, s logging.Status, env *StatusEnvelope) []byte {
	f := &formatter{env: &Envelope{}}
	o := make(object, 0, 9+len(env.Decorations))
	o.add("hostIdentifier", f.str(env.HostIdentifier))
	o.add("calendarTime", f.str(CalendarTime(s.Time)))
	o.add("unixTime", f.value(func(b []byte) []byte { return jsonw.AppendInt(b, s.Time.Unix()) }))
	o.add("severity", f.value(func(b []byte) []byte { return jsonw.AppendInt(b, int64(s.Severity)) }))
	o.add("filename", f.str(s.File))
	o.add("line", f.value(func(b []byte) []byte { return jsonw.AppendInt(b, int64(s.Line)) }))
	o.add("message", f.str(s.Message))
	o.add("version", f.str(env.Version))
	if decs := sortedDecorations(env.Decorations); len(decs) > 0 {
		if env.DecorationsTopLevel {
			for _, d := range decs {
				o.add(d.Name, f.str(d.Value))
			}
		} else {
			o.add("decorations", f.value(func(b []byte) []byte { return appendDecorations(b, decs) }))
		}
	}
	return o.appendTo(dst)
}

// AppendStdoutStatus appends the stdout plugin's status line, without
// newline: `severity=<n> location=<file>:<line> message=<msg>`
// (plugins/logger/stdout.cpp; the message is printed as is).
func AppendStdoutStatus(dst []byte, s logging.Status) []byte {
	dst = append(dst, "severity="...)
	dst = strconv.AppendInt(dst, int64(s.Severity), 10)
	dst = append(dst, " location="...)
	dst = append(dst, s.File...)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(s.Line), 10)
	dst = append(dst, " message="...)
	return append(dst, s.Message...)
}
