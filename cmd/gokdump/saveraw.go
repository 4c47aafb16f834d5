package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/rawdump"
)

// The "save-raw" command: a dump the capture wrote to kdump.conf's raw partition
// becomes a dump directory under path (package rawdump; start does it too, before
// arming).
func init() {
	register(&command{
		name:    "save-raw",
		summary: "save a dump waiting on kdump.conf's raw partition as a dump directory under path",
		run:     runSaveRaw,
	})
}

func runSaveRaw(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "save-raw", `[--config FILE] [--dir DIR]

Reads the header of kdump.conf's raw partition; when it holds a dump not saved yet,
rebuilds it (as makedumpfile -R does) into a new dump directory under path (or DIR):
vmcore when it is complete and its checksum verifies, else vmcore-incomplete, with
vmcore-dmesg.txt and gokdump-status.json; then marks the partition's dump saved, so
running it again does nothing. "gokdump start" does the same before it arms.
Exit status 0 when there was nothing to do or the dump was saved complete, 1 on
errors, 4 when the dump saved is incomplete.`)
	f := addServiceFlags(fs)
	dir := fs.String("dir", "", "the `directory` to save under (default: kdump.conf's path)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, _, err := f.load()
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump save-raw: %v\n", err)
		return 1
	}
	res, err := f.sys.SaveRaw(cfg, *dir)
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump save-raw: %v\n", err)
		return 1
	}
	return printRawSave(e.stdout, cfg.Target.Spec, res)
}

// printRawSave says what a raw save found and did, and returns save-raw's exit code.
func printRawSave(w io.Writer, spec string, res *rawdump.SaveResult) int {
	switch {
	case res == nil:
		return 0
	case res.Header == nil:
		fmt.Fprintf(w, "raw %s: no dump was ever written there\n", spec)
		return 0
	case res.Status == nil:
		fmt.Fprintf(w, "raw %s: its dump (written %s) was saved before; nothing to do\n", spec, res.Header.WriteTime.Format("2006-01-02 15:04:05 UTC"))
		return 0
	}
	st := res.Status
	if res.HeaderErr != nil {
		fmt.Fprintf(w, "raw %s: the header is damaged (%v): saved what the stream holds\n", spec, res.HeaderErr)
	}
	fmt.Fprintf(w, "raw %s: saved a %s dump of %s to %s\n", spec, st.Result, st.KernelRelease, filepath.Join(st.Dir, st.Dump))
	if st.Error != "" {
		fmt.Fprintf(w, "  %s\n", st.Error)
	}
	if st.Result != dumpdir.Complete {
		return 4
	}
	return 0
}
