// Command gokdump-reservation is the reservation part of `make bench`
// (BENCH_RESERVATION=1): it finds, by bisection in the real-crash lab, the smallest
// crashkernel= at which gokdump's capture of a Debian 6.1 guest of 1, 4, 16 and 64 GiB
// still saves a complete dump with the default configuration, and prints every trial
// (reservation, result, capture time, the capture kernel's free memory, the
// collector's peak RSS) and the targets of issue 14 with PASS or MISS.
//
//	go run ./bench/cmd/gokdump-reservation [-guests 1g,4g,16g,64g] [-max-trials N]
//	go run ./bench/cmd/gokdump-reservation -trials 65536:256,1024:256   # single trials
//
// See package bench/reservation for what counts as a saved dump and how a failed
// trial is classified. Run it as root from inside the repository.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/gokdump/gokdump/bench/reservation"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := reservation.Main(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gokdump-reservation:", err)
		os.Exit(1)
	}
}
