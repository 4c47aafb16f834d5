// Package volume brings up, in the capture kernel, the block stack under a dump
// target — md RAID1 arrays, LVM logical volumes (linear and striped), LVM over md —
// and refuses to write through a stale mapping.
//
// It has two halves, one per kernel:
//
//   - At arming (gokdump start, first kernel), DescribeDevice walks sysfs under the
//     target's device, reads the on-disk metadata (ReadPV, ReadSuperblock) and
//     returns a Stack: for an LV, its VG id and name, the VG's metadata seqno, the dm
//     table it expects with PVs named by UUID; for an md array, its UUID, level and
//     member count. What the capture could not bring up is refused there, with an
//     *UnsupportedError saying why (thin, cache, raid and mirror LVs, snapshot
//     origins, a pvmove in progress, shared VGs, LUKS, multipath, md other than
//     RAID1 with metadata 1.2). The Stack is JSON and travels in the initramfs.
//   - In the capture kernel, Activate waits (bounded) for the recorded md members and
//     PVs to appear among the block devices, assembles the arrays first with the md
//     ioctls (a RAID1 with a member missing starts degraded), re-reads the LVM
//     metadata from the disks and compares it with the Stack: a different VG seqno
//     or LV table is an *LayoutChangedError (ErrLayoutChanged) listing what changed,
//     and nothing is mapped; otherwise it loads the table through
//     /dev/mapper/control, reads it back, and returns the device's path.
//
// The on-disk formats are read over io.ReaderAt with every size checked before it is
// used and every loop bounded; bad data is a *FormatError naming the byte offset or
// the metadata text line and what was expected there:
//
//   - LVM2: the label (LABELONE, in one of the first four sectors) and pv_header, the
//     metadata area header (mda_header, " LVM2 x[5A%r0N*>") and its ring buffer of
//     metadata text, each checked with lvm2's CRC (CRC-32 of polynomial 0xedb88320
//     started at 0xf597a6cf, no final inversion), and the text itself (ParseMetadata).
//   - md: the version-1 superblock 4 KiB into a member (metadata 1.2), with the
//     kernel's calc_sb_1_csum checksum.
//
// Not for: creating or changing volumes (that stays with lvm2 and mdadm), metadata
// formats other than LVM2 text and md 1.2, or any dm target but linear and striped.
//
// Why our own code: gokdump's capture is one static Go binary without udev, lvm2 or
// mdadm. No Go library brings these volumes up: what exists is cgo bindings of the
// retired liblvm2app (golvm2), read-only readers of single-PV linear LVs for file
// extraction (a Go lvm2 package in a UDF tool, Rust crates, libvslvm in C), and thin
// device-mapper ioctl wrappers inside other projects (hcsshim's and Monogon's, linear
// or verity targets, not importable or not reading tables back); none assembles md
// arrays from their superblocks, and none compares the disks with a layout recorded
// earlier. The formats are small and documented in lvm2's and the kernel's headers,
// which the tests hold this code to (the real lvm2 and mdadm --examine, and the
// kernel's UAPI headers compiled with gcc).
//
// Usage:
//
//	// gokdump start, first kernel:
//	st, err := volume.DescribeDevice("/dev/mapper/vg0-crash")
//	if err != nil { ... } // refuse to arm: the error says why
//	js, _ := json.Marshal(st) // into the capture initramfs
//
//	// capture kernel, after loading md_mod, raid1 and dm_mod:
//	var st volume.Stack
//	json.Unmarshal(js, &st)
//	dev, err := volume.Activate(ctx, &st, volume.LinuxKernel(), 30*time.Second)
//	if errors.Is(err, volume.ErrLayoutChanged) { ... } // failure_action, never write
package volume
