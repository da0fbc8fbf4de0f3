package utility

import (
	"context"

	"github.com/gosquery/gosquery/internal/events"
	"github.com/gosquery/gosquery/internal/table"
)

var osqueryEventsSpec = table.Spec{
	Name:        "osquery_events",
	Description: "Information about the event publishers and subscribers.",
	Columns: []table.Column{
		table.Text("name"),
		table.Text("publisher"),
		table.Text("type"),
		table.Integer("subscriptions"),
		table.Integer("events"),
		table.Integer("refreshes"),
		table.Integer("active"),
	},
	Attributes: table.Utility,
}

type osqueryEventsRow struct {
	Name          string `col:"name"`
	Publisher     string `col:"publisher"`
	Type          string `col:"type"`
	Subscriptions int64  `col:"subscriptions"`
	Events        int64  `col:"events"`
	Refreshes     int64  `col:"refreshes"`
	Active        int64  `col:"active"`
}

func init() { table.Register(osqueryEventsSpec, generateOsqueryEvents) }

// generateOsqueryEvents lists publishers then subscribers with their
// counters. Without a running event manager (--disable_events) every
// publisher and subscriber built in is listed as inactive.
func generateOsqueryEvents(ctx context.Context, q *table.Query, emit func(osqueryEventsRow)) error {
	var (
		pubs []events.PublisherInfo
		subs []events.SubscriberInfo
	)
	if m := events.FromEnv(q.Env); m != nil {
		pubs, subs = m.Publishers(), m.Subscribers()
	} else {
		pubs, subs = events.Registered()
	}
	for _, p := range pubs {
		emit(osqueryEventsRow{Name: p.Name, Type: "publisher", Subscriptions: int64(p.Subscriptions),
			Events: int64(p.Events), Refreshes: int64(p.Refreshes), Active: boolInt(p.Active)})
	}
	for _, s := range subs {
		emit(osqueryEventsRow{Name: s.Name, Publisher: s.Publisher, Type: "subscriber",
			Events: int64(s.Events), Active: boolInt(s.Active)})
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
