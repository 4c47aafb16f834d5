// Package dumpdir is the directory a capture leaves on the dump target, as both
// kernels see it: its name (<host>-<YYYY-MM-DD-HH:MM:SS>, Create, ParseDirName), the
// files in it (vmcore or vmcore-incomplete, vmcore-dmesg.txt, gokdump-status.json);
// or, in Debian's layout (Layout, CreateLayout, ParseDebianDirName), <YYYYMMDDHHMM>
// with dump.<YYYYMMDDHHMM> and dmesg.<YYYYMMDDHHMM>;
// the status file (Status, ReadStatus, WriteStatus), and the dumps found there again
// on the next boot (List) or removed for keep_dumps (Prune).
//
// The capture kernel writes a dump directory (package capture); the first kernel
// reads it (gokdump list, gokdump status). Neither side needs the other's code, so
// this package imports only the standard library: the collector's statistics are
// kept in Status as raw JSON.
//
//	dumps, err := dumpdir.List("/var/crash")
//	for _, d := range dumps {
//		fmt.Println(d.Time, d.Result, d.File, d.Panic)
//	}
//
// It does not find or mount the target (package target) or save a dump (capture).
package dumpdir
