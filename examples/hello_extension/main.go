// Command hello_extension is an osquery extension written with gosquery's
// SDK. It adds the table hello_world(name, greeting, length) and works with
// gosquery's osqueryd/osqueryi and with osquery itself:
//
//	go build -o hello.ext ./examples/hello_extension
//	osqueryi --extension ./hello.ext          # osquery's shell
//	./hello.ext --socket /var/osquery/osquery.em
//	osqueryi --connect /var/osquery/osquery.em "select * from hello_world where name = 'ada'"
//
// The core starts autoloaded extensions with --socket, --timeout and
// --interval (and --verbose); the same flags work by hand.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gosquery/gosquery/pkg/extension"
)

func main() {
	socket := flag.String("socket", "/var/osquery/osquery.em", "path to the osquery core's extension socket")
	timeout := flag.Float64("timeout", 3, "seconds to wait for the core's socket")
	interval := flag.Float64("interval", 3, "seconds between checks that the core is alive")
	verbose := flag.Bool("verbose", false, "log what the extension does")
	flag.Parse()

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv, err := extension.NewServer(*socket, "hello_extension",
		extension.WithVersion("1.0.0"),
		extension.WithTimeout(seconds(*timeout)),
		extension.WithPingInterval(seconds(*interval)),
		extension.WithLogger(log))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	err = srv.RegisterTable(extension.Table{
		Name: "hello_world",
		Columns: []extension.Column{
			{Name: "name", Type: extension.Text, Options: extension.Index},
			{Name: "greeting", Type: extension.Text},
			{Name: "length", Type: extension.Integer},
		},
		Generate: generateHello,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// SIGTERM/SIGINT: leave the core cleanly.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// generateHello greets the names in `WHERE name = ...` (or IN (...)), or
// a fixed pair when the query names nobody. The core filters again, so
// only the constraint's hint is used here.
func generateHello(ctx context.Context, qc extension.QueryContext) ([]map[string]string, error) {
	names := qc.Equals("name")
	if len(names) == 0 {
		names = []string{"world", "gosquery"}
	}
	rows := make([]map[string]string, 0, len(names))
	for _, n := range names {
		rows = append(rows, map[string]string{
			"name":     n,
			"greeting": "hello, " + n,
			"length":   strconv.Itoa(len(n)),
		})
	}
	return rows, nil
}
