// Package makedumpfile is makedumpfile(8)'s command line: its option grammar (getopt_long
// with makedumpfile's option string) and its rules on option combinations, parsed once
// into a [Command] that says what to do: [Command.Options] are the collector's options,
// [Command.DumpLevels] the -d levels to try in turn, and [Command.Mode] what to write (a
// dump, a flattened stream with -F, a dump rebuilt from one with -R, the kernel log
// with --dump-dmesg, the parts of a split dump with --split, one dump merged from its
// parts with --reassemble, or the table of page types with --mem-usage).
//
// Three places read such a command line, and all of them through this package so they
// accept exactly the same options: "gokdump dump" (also run as "makedumpfile"), the
// core_collector line of kdump.conf when it is checked ([CheckConfig], [CoreCollector]:
// by "gokdump config check" and every service command that loads the file), and the
// capture, which turns core_collector into the collector's settings.
//
//	cmd, err := makedumpfile.Parse([]string{"-l", "-d", "31", "/proc/vmcore", "out"})
//	if err == nil {
//		err = cmd.Check()
//	}
//	opts := cmd.Options() // Codec: compress.LZO, Format: collector.KdumpCompressed
//	for _, level := range cmd.DumpLevels() { opts.DumpLevel = level; ... }
//
// The Run methods then do what the mode says, as makedumpfile does it: [Command.RunDump]
// (with the level retry when a dump does not fit), [Command.RunRearrange],
// [Command.RunDmesg] (with --partial-dmesg, from clear_seq on), [Command.RunSplit]
// (collector.CollectSplit: parts written in parallel, cut as makedumpfile cuts them,
// which makedumpfile --reassemble merges into the file it would have written whole),
// [Command.RunReassemble] (dumpfile.Reassemble) and [Command.RunMemUsage], creating
// their output as [Create] does (mode 0600, an existing file only with -f). With -i,
// [Command.Open] reads VMCOREINFO from a file instead of the dump's note.
//
// It is not the collector (package collector filters and writes the dump), and it
// prints nothing: the messages, and the --message-level that chooses them, are
// cmd/gokdump's. It may import config, which is below it; config must not import it,
// since that would bring the collector into the configuration parser.
package makedumpfile
