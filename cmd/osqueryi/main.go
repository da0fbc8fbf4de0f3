// Command osqueryi is gosquery's interactive shell. It is the same program
// as osqueryd: the personality comes from the binary's name and -S/-D.
package main

import (
	"os"

	"github.com/gosquery/gosquery/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args)) }
