// Package system holds the tables about the host itself: processes, users,
// the kernel, memory, mounts and installed software. One file per table.
package system
