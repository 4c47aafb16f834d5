// Package dumpfile writes crash dump files, the last stage of gokdump's
// pipeline (read -> translate -> classify -> compress -> write).
//
// It writes makedumpfile's kdump-compressed format ([KdumpWriter]: to a file,
// or as the flattened stream a pipe or an ssh channel can carry; [Rearrange]
// turns the stream back into the file, as makedumpfile -R does), and the ELF64
// core ([ELFWriter]): the format of /proc/vmcore itself and of makedumpfile's
// -E output, which gdb and crash read directly. The layouts it writes are
// packages format/kdump, format/flat and format/elfcore, the ones package
// vmcore reads with; dumpfile does not import the reader. It also encodes the
// notes such a core carries (NT_PRSTATUS per CPU, VMCOREINFO), which lets
// tests build small synthetic vmcores with the same code the collector uses:
//
//	var info dumpfile.VMCOREINFOText
//	info.Set("OSRELEASE", "6.1.0-test")
//	info.Symbol("init_uts_ns", 0xffffffff82a1b000)
//	w := dumpfile.ELFWriter{
//		Notes: dumpfile.VMCOREINFONote(info.Bytes()),
//		Loads: []dumpfile.ELFLoad{{Phys: 0x100000, FileSize: n, MemSize: n, Data: r}},
//	}
//	_, err := w.WriteTo(out)
package dumpfile
