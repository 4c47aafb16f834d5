// Command labinit is the real-crash lab's guest: /init of the lab's first-kernel
// initramfs (package lab writes it) and of the capture initramfs it builds itself for
// the lab's own capture. It is a test harness, not part of gokdump: the product binary
// links none of it.
//
// In the first kernel it reads the plan the host wrote (package lab/plan), saves facts
// about the machine to a disk, runs a workload that plants marked pages in memory, arms
// a capture kernel and crashes on purpose. How it arms is the plan's capture action:
//
//   - raw-tar: it builds a capture initramfs with itself as /init and loads it with
//     package kexec; in the capture kernel it saves /proc/vmcore as is to a disk.
//   - service: it writes kdump.conf and runs the real gokdump, which the host puts into
//     the initramfs at plan.GokdumpPath, as "gokdump start", the way a machine's kdump
//     service does; the capture kernel then boots the image start built, whose /init is
//     gokdump's own capture service, not this program.
//
// It talks to the host in console lines (plan.Line) and powers the machine off when
// done or on any error. Package lab builds it (lab.BuildBinaries). It refuses to run as
// any PID but 1.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Stdout, os.Stderr))
}
