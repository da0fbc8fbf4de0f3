// Package version holds the versions gosquery reports.
package version

// Osquery is the osquery release whose behaviour gosquery implements. It is
// what osquery_info.version, --version and the TLS API report, because
// Fleet and query packs gate features on it.
const Osquery = "5.23.0"

// Gosquery is gosquery's own release.
const Gosquery = "0.1.0"
