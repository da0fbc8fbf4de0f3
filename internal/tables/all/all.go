// Package all links every core table into a binary: importing it runs each
// table package's init, which registers its tables in table.Default.
package all

import (
	_ "github.com/gosquery/gosquery/internal/tables/events"     // process_events, audit_status
	_ "github.com/gosquery/gosquery/internal/tables/forensic"   // carves
	_ "github.com/gosquery/gosquery/internal/tables/networking" // interfaces, routes, sockets, /etc/hosts
	_ "github.com/gosquery/gosquery/internal/tables/system"     // processes, users, kernel, ...
	_ "github.com/gosquery/gosquery/internal/tables/utility"    // time, file, hash, osquery_*
)
