package main

import (
	"context"
	"fmt"

	"github.com/gokdump/gokdump/initramfs"
	"github.com/gokdump/gokdump/service"
)

func init() {
	register(&command{
		name:    "initramfs",
		summary: "write the capture initramfs for kdump.conf (gokdump as /init, modules, programs, hooks)",
		run:     runInitramfs,
	})
}

func runInitramfs(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "initramfs", `-o FILE [--kernel-version V] [--config FILE] [--modules-dir DIR] [--compress gzip|zstd|none]

Writes the capture initramfs: a newc cpio archive, compressed as the kernel unpacks it
(zstd when /boot/config-V has CONFIG_RD_ZSTD=y, else gzip), holding this gokdump
binary as /init, the configuration as /etc/kdump.conf, the kernel modules the dump
target needs (its file system's and the block drivers from the disk up to the bus,
with their dependencies) plus extra_modules, extra_bins with their dynamic loader and
shared libraries, the kdump_pre and kdump_post hooks (and their interpreters), a
shell for failure_action shell, /dev/console and /dev/null, and
/etc/gokdump/capture.json for the capture kernel. The same inputs give the same
bytes. A manifest of the inputs is written beside it (FILE.json).`)
	f := addServiceFlags(fs)
	out := fs.String("o", "", "the image `file` to write")
	comp := fs.String("compress", "", "override the compression (gzip, zstd, none)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *out == "" {
		fs.Usage()
		return 2
	}
	cfg, data, err := f.load()
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump initramfs: %v\n", err)
		return 1
	}
	opts := service.BuildOptions{Config: cfg, ConfigData: data, Release: f.releaseFor(cfg), Self: f.self}
	if *comp != "" {
		c, err := initramfs.ParseCompression(*comp)
		if err != nil {
			fmt.Fprintf(e.stderr, "gokdump initramfs: %v\n", err)
			return 2
		}
		opts.Compression = &c
	}
	plan, err := f.sys.Plan(opts)
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump initramfs: %v\n", err)
		return 1
	}
	if _, err := plan.Build(*out); err != nil {
		fmt.Fprintf(e.stderr, "gokdump initramfs: %v\n", err)
		return 1
	}
	for _, n := range plan.Info.Notes {
		fmt.Fprintf(e.stderr, "gokdump initramfs: note: %s\n", n)
	}
	fmt.Fprintf(e.stdout, "wrote %s (%s, kernel %s): %d modules, %d files\n",
		*out, plan.Compression, plan.Release, len(plan.Info.Modules), len(plan.Files))
	return 0
}
