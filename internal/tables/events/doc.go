// Package events holds the event tables: rows buffered as the kernel
// reports events, read back when queried (process_events), and the audit
// status table.
package events
