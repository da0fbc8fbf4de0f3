package sqlengine

import (
	"time"

	"github.com/ncruces/go-sqlite3"
)

// operationFunctions are osquery's sleep (osquery/sql/sqlite_operations.cpp).
// osquery's carve() aggregate belongs with the carver and is not here.
func operationFunctions() []sqlFunction {
	// Not deterministic: the point of sleep is its side effect, and SQLite
	// must call it every time.
	return []sqlFunction{{"sleep", 1, 0, fnSleep}}
}

// maxSleep caps sleep(): osquery sleeps as long as asked, which lets one
// query hold the agent's only connection for hours.
const maxSleep = 60 * time.Second

// fnSleep is sleep(seconds): waits, then returns the seconds slept. The
// argument is read as a 32-bit integer (sqlite3_value_int); a negative one
// returns 0 at once. The wait ends early, failing the statement, when the
// statement is interrupted (its context is cancelled or times out).
func fnSleep(ctx sqlite3.Context, args ...sqlite3.Value) {
	d := sleepDuration(argInt32(args[0]))
	if d <= 0 {
		ctx.ResultInt64(0)
		return
	}
	done := ctx.Conn().GetInterrupt().Done()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		ctx.ResultInt64(int64(d / time.Second))
	case <-done:
		ctx.ResultError(sqlite3.INTERRUPT)
	}
}

// sleepDuration is how long sleep(secs) waits: nothing for a negative
// request, at most maxSleep.
func sleepDuration(secs int64) time.Duration {
	if secs <= 0 {
		return 0
	}
	if secs >= int64(maxSleep/time.Second) {
		return maxSleep
	}
	return time.Duration(secs) * time.Second
}
