package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/upload"
)

// The "upload" command sends saved dumps to the fleet's crash store (package upload).
func init() {
	register(&command{
		name:    "upload",
		summary: "send the saved dumps not yet uploaded to the fleet's crash store (S3 or a directory)",
		run:     runUpload,
	})
}

func runUpload(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "upload", `[--config FILE] [--dir DIR] [--store STOREDIR] [--json]

Sends every saved dump that has not been uploaded yet to the crash store kdump.conf's
s3_* directives name (an S3-compatible bucket), or to the local directory --store
names: first its record (crashes/<id>/meta.json: the dump's info report, the status
file, this machine's hostname, machine-id and DMI product), then the kernel log, then
the dump (a resumable, checksummed multipart upload; only the first s3_full_dumps
crashes of one signature are sent whole, the rest as record and log, "sampled"), then
the record again as complete. The dump directory then gets gokdump-uploaded.json; the
dump is deleted only with s3_delete_uploaded yes. A store that cannot be reached is not
an error: the dumps stay pending for the next run (exit 0). Exits 1 when the store
refuses an upload.`)
	file := fs.String("config", "", "the configuration `file` (default: $GOKDUMP_CONFIG, else /etc/kdump.conf)")
	dir := fs.String("dir", "", "upload the dumps in `DIR` instead of the configured path")
	storeDir := fs.String("store", "", "upload to the local crash store `STOREDIR` (a fleet directory) instead of the configured bucket")
	asJSON := fs.Bool("json", false, "print the outcome as JSON")
	quiet := fs.Bool("quiet", false, "print nothing when there is nothing to do or uploads are not configured")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	explicit := *file != "" || os.Getenv(configEnv) != ""
	cfg, err := loadConfig(configPath(*file), explicit)
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump upload: %v\n", err)
		return 1
	}
	var opts upload.Options
	switch {
	case *storeDir != "":
		opts = upload.OptionsOf(cfg, fleet.Dir{Root: *storeDir})
		opts.Prefix = ""
	case cfg.S3.Enabled():
		st, err := upload.StoreOf(cfg)
		if err != nil {
			fmt.Fprintf(e.stderr, "gokdump upload: %v\n", err)
			return 1
		}
		opts = upload.OptionsOf(cfg, st)
	default:
		if !*quiet {
			fmt.Fprintf(e.stdout, "gokdump upload: uploads are not configured (no s3_endpoint in %s, no --store): nothing to do\n", cfg.File)
		}
		return 0
	}
	if *dir == "" {
		if *dir, err = dumpDir(ctx, cfg); err != nil {
			fmt.Fprintf(e.stderr, "gokdump upload: %v\n", err)
			return 1
		}
	}
	if !*asJSON {
		opts.Logf = func(format string, args ...any) {
			fmt.Fprintf(e.stdout, "gokdump upload: "+format+"\n", args...)
		}
	}
	res, err := upload.Run(ctx, *dir, opts)
	if *asJSON && res != nil {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump upload: %v\n", err)
		return 1
	}
	if !*asJSON {
		summarizeUpload(e, res, *quiet)
	}
	return 0
}

func summarizeUpload(e *env, res *upload.Result, quiet bool) {
	done := res.Count(fleet.DumpComplete) + res.Count(fleet.DumpSampled) + res.Count(fleet.DumpMissing)
	if res.Unreachable {
		fmt.Fprintf(e.stdout, "gokdump upload: %s cannot be reached (%s): %d dumps stay pending for the next run\n", res.Store, res.Reason, res.Pending())
		return
	}
	if done == 0 && quiet {
		return
	}
	fmt.Fprintf(e.stdout, "gokdump upload: %d uploaded to %s (%d whole, %d sampled), %d already there, %d pending\n",
		done, res.Store, res.Count(fleet.DumpComplete), res.Count(fleet.DumpSampled), res.Count("already"), res.Pending())
}
