package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/service"
	"github.com/gokdump/gokdump/target"
)

// The "list" command shows the dumps the capture service saved (package dumpdir).
func init() {
	register(&command{
		name:    "list",
		summary: "list the saved dumps: time, result, size, panic line",
		run:     runList,
	})
}

// listEntry is one dump in "gokdump list --json": the dump's own (stable) names and
// why its status file could not be read.
type listEntry struct {
	dumpdir.Dump
	Error string `json:"error,omitempty"`
}

func runList(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "list", `[--config FILE] [--dir DIR] [--json]

Lists the dumps the capture kernel saved, oldest first: the time of the capture
(UTC), the result (complete, incomplete, failed, skipped), the dump's size and the
kernel's panic line (from gokdump-status.json, else vmcore-dmesg.txt). The dumps are
found under kdump.conf's path on its target: the root file system, or the mount point
of the target device (which must be mounted; --dir names the directory instead).`)
	file := fs.String("config", "", "the configuration `file` (default: $GOKDUMP_CONFIG, else /etc/kdump.conf)")
	dir := fs.String("dir", "", "list the dumps in `DIR` instead of the configured path")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	given := *dir != ""
	if !given {
		explicit := *file != "" || os.Getenv(configEnv) != ""
		cfg, err := loadConfig(configPath(*file), explicit)
		if err != nil {
			fmt.Fprintf(e.stderr, "gokdump list: %v\n", err)
			return 1
		}
		if *dir, err = dumpDir(ctx, cfg); err != nil {
			fmt.Fprintf(e.stderr, "gokdump list: %v\n", err)
			return 1
		}
		if note := service.Host().RawNote(cfg); note != "" {
			fmt.Fprintf(e.stderr, "gokdump list: note: %s\n", note)
		}
	}
	dumps, err := dumpdir.List(*dir)
	switch {
	case errors.Is(err, os.ErrNotExist) && given:
		// A mistyped --dir is not an empty list.
		fmt.Fprintf(e.stderr, "gokdump list: %s does not exist\n", *dir)
		return 1
	case errors.Is(err, os.ErrNotExist):
		dumps, err = nil, nil // the configured path: nothing saved yet
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump list: %v\n", err)
		return 1
	}
	if *asJSON {
		return printListJSON(e, dumps)
	}
	printList(e.stdout, *dir, dumps)
	return 0
}

// dumpDir is where the dumps of cfg are on this (the first) kernel.
func dumpDir(ctx context.Context, cfg *config.Config) (string, error) {
	t := cfg.Target
	switch {
	case t.Kind == config.TargetRootfs, t.Kind == config.TargetRaw:
		// A raw target's dumps are saved (converted) into path here.
		return cfg.Path, nil
	case !t.Kind.IsFilesystem():
		return "", fmt.Errorf("%s: dumps sent to a %s target are not on this machine; use --dir for a copy", cfg.File, t.Kind)
	}
	d, err := target.ParseDevice(t.Spec)
	if err != nil {
		return "", err
	}
	dev, err := target.Find(ctx, d, 0)
	if err != nil {
		return "", fmt.Errorf("the dump target %s: %w", d, err)
	}
	mp, err := target.MountPoint(dev)
	if err != nil {
		return "", fmt.Errorf("the dump target %s (%s) is not mounted: mount it, or give its dump directory with --dir (%w)", d, dev, err)
	}
	return filepath.Join(mp, cfg.Path), nil
}

func printListJSON(e *env, dumps []dumpdir.Dump) int {
	out := make([]listEntry, 0, len(dumps))
	for _, d := range dumps {
		le := listEntry{Dump: d}
		if d.Err != nil {
			le.Error = d.Err.Error()
		}
		out = append(out, le)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(e.stderr, "gokdump list: %v\n", err)
		return 1
	}
	return 0
}

func printList(w io.Writer, dir string, dumps []dumpdir.Dump) {
	if len(dumps) == 0 {
		fmt.Fprintf(w, "no dumps in %s\n", dir)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tRESULT\tSIZE\tDUMP\tPANIC")
	for _, d := range dumps {
		file := "-"
		if d.File != "" {
			file = d.File
		}
		size := "-"
		if d.File != "" {
			size = humanSize(d.Size)
		}
		panicLine := d.Panic
		if d.Err != nil {
			panicLine = "(" + d.Err.Error() + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Time.Format(time.DateTime), d.Result, size, file, panicLine)
	}
	tw.Flush()
}

// humanSize prints a byte count in binary units, as ls -h does.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, u := float64(n), 0
	for v >= unit && u < 4 {
		v /= unit
		u++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[u-1])
}
