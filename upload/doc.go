// Package upload sends the dumps the capture saved to a fleet's crash store (package
// fleet: an S3-compatible bucket or a local directory): "gokdump upload", run at boot
// after "gokdump start" and by a timer while anything is pending.
//
// For each dump directory (package dumpdir, both layouts) without an upload marker,
// it writes, in this order: crashes/<id>/meta.json (a fleet.Record: the dump's
// "info --json" report, the status file, the host's facts) with the dump state
// "uploading"; vmcore-dmesg.txt; the dump (resumably, checksummed, through
// fleet.FileUploader when the store has it) or, when the signature already has
// FullDumps dumps in the store, nothing ("sampled"); gokdump-status.json; and
// meta.json again with the final state, size and SHA-256. Then the local directory
// gets its marker (MarkerFile) and, when configured, loses its dump file.
//
// A store that cannot be reached is not an error: Run stops, says so in its Result,
// and the dumps stay pending for the next run. Credentials are never logged.
//
//	res, err := upload.Run(ctx, "/var/crash", upload.Options{Store: st, FullDumps: 3})
//
// It does not read kdump.conf (cmd/gokdump does) or run in the capture kernel.
package upload
