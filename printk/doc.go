// Package printk reads the kernel log (what dmesg showed) out of the memory of a crashed
// kernel, without debug symbols: everything it needs is in the dump's VMCOREINFO.
//
// The kernel has stored its log in three ways, and the VMCOREINFO keys present tell which:
//
//   - 5.10 and later: the lockless ring buffer (SYMBOL(prb)), a ring of descriptors with
//     per-record metadata (struct printk_info) and a separate ring of text blocks.
//   - 3.5 to 5.9: variable-length records (struct printk_log, earlier struct log) in the
//     byte array log_buf, from log_first_idx to log_next_idx (SYMBOL(log_first_idx)).
//   - Before 3.5: a plain character ring log_buf ending at log_end.
//
// Read walks whichever the dump holds and returns a Log of Records; Log.WriteText prints
// them byte for byte as kexec-tools' vmcore-dmesg does, so existing scripts and habits
// carry over (Log.WriteMakedumpfileText as makedumpfile --dump-dmesg does, and
// Log.WriteJSON one JSONRecord a line, for programs). Every walk is bounded by the ring sizes the kernel itself allows, and a
// damaged ring gives the records read before the damage plus a *FormatError saying which
// record and address stopped the walk.
//
// Memory is read through the small Memory interface (kernel virtual addresses), so any
// dump format gokdump reads can be handed in; ReadFile does it for an ELF vmcore.
//
// Usage:
//
//	f, _ := vmcore.Open("/proc/vmcore")
//	log, err := printk.ReadFile(f)
//	if log != nil {
//		log.WriteText(os.Stdout) // what "vmcore-dmesg /proc/vmcore" prints
//	}
//	if err != nil { ... } // the log was cut short, or absent
package printk
