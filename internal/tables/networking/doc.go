// Package networking holds the tables about network interfaces, routes and
// sockets. One file per table; netlink.go holds the rtnetlink client the
// interface and route tables share.
package networking
