// Package rawdump is kdump.conf's "raw <device>" target, both halves: writing a dump
// to a raw partition in the capture kernel, and turning it into an ordinary dump
// directory on the next boot. The partition's layout is package format/raw's: a
// header, then makedumpfile's flattened stream.
//
//   - At arming (gokdump start), Resolve finds the configured partition (a /dev path
//     or /dev/disk/by-* link; LABEL= and UUID= are the GPT partition name and unique
//     GUID, since a raw partition has no file system to carry a label) and refuses one
//     that does not exist, is not a GPT partition, is mounted, used by another block
//     device, or holds a file system or another known signature. The Partition it
//     returns travels in the capture initramfs: the partition's GPT unique GUID,
//     number, start and size, which the capture kernel (no udev) matches.
//   - In the capture kernel, Target.Open finds that partition again (Find: each
//     disk's GPT read in pure Go, the extent checked against sysfs), refuses it if a
//     file system appeared on it since, and Begin/Writer write the header (state
//     writing, synced), the collector's flattened stream bounded by the partition's
//     size (a record that does not fit is refused whole, so the stream stays well
//     formed and the collector can still mark the dump incomplete and end the stream
//     in the room kept for that), and the final header (complete or incomplete, the
//     stream's length and CRC-32C), synced. Nothing outside the partition is written
//     and it is never mounted.
//   - On the next boot Save (gokdump save-raw, and gokdump start before it arms)
//     reads the header; a fresh dump is rebuilt with dumpfile.Rearrange into a new
//     dump directory under kdump.conf's path (vmcore-incomplete, synced, renamed
//     vmcore only when complete and its checksum verifies), with vmcore-dmesg.txt and
//     the status file, and the header is marked saved. Saving again is a no-op.
package rawdump
