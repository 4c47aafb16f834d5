// Package vmtest is "gokdump test --vm": it proves, without crashing this machine,
// that the capture kernel and the exact capture initramfs "gokdump start" built save a
// dump on this machine's kernel release. It boots them in QEMU: the same kernel first
// boots as a first kernel, from the exact image with a small cpio overlay appended (the
// kernel unpacks concatenated archives, later files replacing earlier ones), arms the
// capture kernel with kexec_file_load into a crashkernel= reservation of this
// machine's size, with the capture command line start loads, and crashes with sysrq-c;
// the capture kernel then runs the image's own /init (gokdump's capture.Flow) on the
// crashed guest's /proc/vmcore and saves to a scratch virtual disk. The host reads the
// dump back from that disk without mounting it (debugfs) and opens it with gokdump's
// own reader (vmcore, crashinfo): PASS with the dump's summary, or FAIL with the
// reason and the tail of the guest's console.
//
// What the overlay changes, and only that: the configuration's target becomes an ext4
// file system on the scratch disk (LABEL=gokdump-vmtest), failure_action and
// final_action become poweroff (the VM ends instead of rebooting), the recorded
// device, LVM/md stack, root file system and server are dropped, and the drivers of
// the VM's virtio disk (and ext4 when the image has no ext4) are added from this
// machine's module tree. Everything else is the image's: the gokdump binary as /init,
// the modules it loads, the collector and its options, hooks, extra_bins.
//
// What it is not: a test of the machine's real hardware or its real target (the disk
// or its driver, an LVM or md layout, the network to an ssh or nfs server are not
// reached: the verdict notes what was replaced), of the firmware's crash path, or a
// replacement for "gokdump test", which crashes the machine for real. It never writes
// to the machine's target or devices: its only files are in a temporary directory
// (0700, files 0600), removed afterwards unless kept.
//
//	res, err := vmtest.Run(ctx, vmtest.Options{System: service.Host()})
//	if err == nil && res.Pass { fmt.Println("PASS:", res.Dump.File) }
//
// The guest half (FirstKernel) runs in the product's init when the kernel command line
// carries FirstKernelFlag and the overlay's spec file exists: never on a real boot.
package vmtest
