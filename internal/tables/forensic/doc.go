// Package forensic holds osquery's forensic tables: carves, the view of
// and the way to request file carves (osquery/tables/forensic).
package forensic
