// Command gokdump is the whole kdump user-space stack in one static binary: it arms a
// capture kernel, builds the capture initramfs, saves and filters the crashed kernel's
// memory, and inspects dumps. Run "gokdump help" for the subcommands.
//
// When it runs as PID 1 it is the init of a capture (or lab) initramfs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
