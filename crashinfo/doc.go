// Package crashinfo reads what crashed out of a crashed kernel's log: the panic or
// oops line that starts the final crash report, the CPU and task it ran on, the call
// trace the kernel printed, and a signature that names the bug independently of the
// boot it happened on.
//
// It works on the records package printk reads from any dump, so it needs no debug
// symbols and no knowledge of the kernel's data structures: the kernel's own report
// already holds the answers, in formats that have changed little since 3.x.
//
// The final crash is found from the end of the log:
//
//   - the last "Kernel panic - not syncing: ..." line, unless an oops, BUG, WARNING
//     or hung-task report printed just before it by the same caller (within
//     RelatedWindow) caused it: then that report's first line is the reason and the
//     panic line ("Fatal exception", "panic_on_warn set ...") is kept as Panic;
//   - without a panic line (an oops reaches kdump before panic() prints anything),
//     the last oops-class report.
//
// A report's first line is its reason: "BUG: kernel NULL pointer dereference, address:
// ..." comes before the "Oops: 0002 [#1] ..." line of the same report.
//
// [Describe] builds the whole report of a dump, [DumpInfo]: the crashed kernel (release,
// version, host, build ID), crash time, CPUs, memory, paging and KASLR (from package
// kernel), the crash from the log, and each CPU's saved instruction pointer resolved
// through the kernel's own symbol table (package kallsyms). It is built once here and
// used by "gokdump info" (text with [DumpInfo.WriteText], or the JSON documented as
// stable in docs/info-json.md) and by the capture's status file.
//
// It does not read the dump's file formats (package vmcore) or the kernel's memory
// itself (packages kernel, printk, kallsyms); it explains what they found.
//
// Usage:
//
//	log, _ := printk.ReadFile(f)
//	rep, err := crashinfo.Analyze(log.Records)
//	if err == nil {
//		fmt.Println(rep.Reason, rep.Comm, rep.PID, rep.Signature)
//	}
//
//	d, err := crashinfo.Describe(f, crashinfo.Options{})
//	if err == nil {
//		d.WriteText(os.Stdout)
//	}
package crashinfo
