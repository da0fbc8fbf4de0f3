// Package truthrec is the ground-truth record the ancestry truth tests'
// helper process (e2e/truthproc) writes and the tests read.
package truthrec

// Record is one process image as it started, read from /proc by the
// process itself.
type Record struct {
	PID     int    `json:"pid"`
	Start   uint64 `json:"start"`
	PPID    int    `json:"ppid"`
	PStart  uint64 `json:"pstart"`
	Exe     string `json:"exe"`
	Comm    string `json:"comm"`
	Cmdline string `json:"cmdline"`
	// Walked marks an ancestor read from /proc by a descendant (a shell
	// in between), not a truthproc image.
	Walked bool `json:"walked,omitempty"`
}
