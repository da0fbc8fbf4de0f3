package utility

import (
	"context"
	"time"

	"github.com/gosquery/gosquery/internal/table"
)

var timeSpec = table.Spec{
	Name:        "time",
	Description: "Track current date and time in UTC.",
	Columns: []table.Column{
		table.Text("weekday"),
		table.Integer("year"),
		table.Integer("month"),
		table.Integer("day"),
		table.Integer("hour"),
		table.Integer("minutes"),
		table.Integer("seconds"),
		table.Text("timezone"),
		table.Text("local_timezone"),
		table.Integer("unix_time"),
		table.Text("timestamp"),
		table.Text("datetime"),
		table.Text("iso_8601"),
	},
	Attributes: table.Utility,
}

type timeRow struct {
	Weekday       string `col:"weekday"`
	Year          int64  `col:"year"`
	Month         int64  `col:"month"`
	Day           int64  `col:"day"`
	Hour          int64  `col:"hour"`
	Minutes       int64  `col:"minutes"`
	Seconds       int64  `col:"seconds"`
	Timezone      string `col:"timezone"`
	LocalTimezone string `col:"local_timezone"`
	UnixTime      int64  `col:"unix_time"`
	Timestamp     string `col:"timestamp"`
	Datetime      string `col:"datetime"`
	ISO8601       string `col:"iso_8601"`
}

func init() { table.Register(timeSpec, generateTime) }

// generateTime emits the current time, whole seconds, broken down in UTC
// as osquery does whatever the host's zone: timezone is always "UTC",
// timestamp is asctime(3) with " UTC" appended ("Mon Jan  6 12:34:56 2025
// UTC", the day space-padded), datetime and iso_8601 are both
// strftime("%FT%TZ"). local_timezone is the host zone's abbreviation at
// this instant ("CET", "EDT"), "UTC" when it has none.
func generateTime(ctx context.Context, q *table.Query, emit func(timeRow)) error {
	now := q.Env.Now().Truncate(time.Second)
	emit(timeRowAt(now, time.Local))
	return nil
}

// timeRowAt builds the row for instant t, with local as the host's zone.
func timeRowAt(t time.Time, local *time.Location) timeRow {
	utc := t.UTC()
	zone, _ := t.In(local).Zone()
	if zone == "" {
		zone = "UTC"
	}
	return timeRow{
		Weekday:       utc.Weekday().String(),
		Year:          int64(utc.Year()),
		Month:         int64(utc.Month()),
		Day:           int64(utc.Day()),
		Hour:          int64(utc.Hour()),
		Minutes:       int64(utc.Minute()),
		Seconds:       int64(utc.Second()),
		Timezone:      "UTC",
		LocalTimezone: zone,
		UnixTime:      utc.Unix(),
		Timestamp:     utc.Format("Mon Jan _2 15:04:05 2006") + " UTC",
		Datetime:      utc.Format("2006-01-02T15:04:05Z"),
		ISO8601:       utc.Format("2006-01-02T15:04:05Z"),
	}
}
