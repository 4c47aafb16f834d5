// Command gokdump is the whole kdump user-space stack in one static binary: it arms a
// capture kernel, builds the capture initramfs, saves and filters the crashed kernel's
// memory, and inspects dumps. Run "gokdump help" for the subcommands.
//
// When it runs as PID 1 it is the init of the capture initramfs (the "init" command).
// The real-crash lab's guest program is not part of it: it lives in lab/cmd/labinit,
// and this command imports no lab package (TestNoLabDependency).
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
