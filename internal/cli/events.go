package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gosquery/gosquery/internal/events"
	_ "github.com/gosquery/gosquery/internal/events/auditpub" // the audit publisher
	"github.com/gosquery/gosquery/internal/flags"
	"github.com/gosquery/gosquery/internal/store"
	"github.com/gosquery/gosquery/internal/table"
)

// shellDatabasePath is where the shell's store lives: nowhere (in memory)
// unless --database_path was given, as osquery's shell uses an ephemeral
// database.
func shellDatabasePath(fl *flags.Set) string {
	if fl.Bool("disable_database") || !fl.Changed("database_path") {
		return ""
	}
	return fl.Get("database_path")
}

// eventsSession is a running event manager and the store it writes to.
type eventsSession struct {
	db      *store.DB
	manager *events.Manager
	stopSig func()
}

// startEvents opens the store and starts the publishers the flags enable.
// SIGTERM and SIGHUP stop them before the process exits, so audit rules and
// ownership are given back; the caller stops them on every other exit,
// including a panic.
func startEvents(ctx context.Context, env *table.Env, dbPath string, log *slog.Logger) (*eventsSession, error) {
	db, err := store.Open(dbPath, log)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	m := events.NewManager(env, db)
	s := &eventsSession{db: db, manager: m}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			s.stop()
			os.Exit(0)
		case <-done:
		}
	}()
	s.stopSig = func() {
		signal.Stop(sigs)
		close(done)
	}
	if err := m.Start(ctx); err != nil {
		s.stop()
		return nil, err
	}
	m.LimitProcs()
	return s, nil
}

// stop stops the publishers (undoing their host changes) and closes the
// store; safe to call twice.
func (s *eventsSession) stop() {
	if s == nil {
		return
	}
	if err := s.manager.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "Error stopping events:", err)
	}
	s.db.Close()
}
