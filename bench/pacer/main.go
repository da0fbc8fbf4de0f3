// Command pacer runs a program at a steady rate: RATE starts per second
// for a duration, each started on its tick whatever the previous ones do,
// so a collector is measured at a known exec rate rather than at whatever
// rate a shell loop reaches. It prints how many it started and how many
// ticks it missed.
//
//	pacer -rate 300 -for 30s /bin/true gosq-paced
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"
)

func main() {
	rate := flag.Int("rate", 300, "starts per second")
	dur := flag.Duration("for", 30*time.Second, "how long")
	flag.Parse()
	if flag.NArg() == 0 || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "usage: pacer [-rate N] [-for D] PROGRAM [ARGS]")
		os.Exit(2)
	}
	path, err := exec.LookPath(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	args := flag.Args()
	interval := time.Second / time.Duration(*rate)
	var wg sync.WaitGroup
	started, missed := 0, 0
	begin := time.Now()
	for next := begin; time.Since(begin) < *dur; next = next.Add(interval) {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		} else if -d > interval {
			missed++
			continue
		}
		p, err := os.StartProcess(path, args, &os.ProcAttr{Files: []*os.File{nil, nil, os.Stderr}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		started++
		wg.Go(func() { p.Wait() })
	}
	wg.Wait()
	fmt.Printf("%d %d\n", started, missed)
}
