// Command osqueryd is gosquery's daemon. Invoked with -S, or under any name
// not containing "osqueryd", it is the shell.
package main

import (
	"os"

	"github.com/gosquery/gosquery/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args)) }
