// Package capture is the save side of the kdump service: what gokdump does as PID 1 of
// the capture initramfs once the crashed kernel's memory is in /proc/vmcore. It runs the
// classic flow (the order Fedora's kdump uses) and writes a record of what happened:
//
//  1. load the kernel modules the initramfs holds, in the order the builder listed them;
//  2. bring up the LVM/md stack under the target that gokdump start recorded
//     (volume.Activate, bounded): a layout changed since arming fails the capture
//     before anything is mounted, saying what changed, and failure_action runs;
//     then make the /dev/VG/LV and /dev/md/NAME links udev would have made, and
//     find and mount the dump target (package target), waiting a bounded time for it;
//  3. run the kdump_pre hook: a non-zero exit skips the dump (final_action follows);
//  4. prune old dumps when keep_dumps N is set (before writing, so a full disk has room);
//  5. save the kernel log to vmcore-dmesg-incomplete.txt, renamed vmcore-dmesg.txt;
//  6. save the dump with core_collector's options to vmcore-incomplete, fsync it and its
//     directory, and rename it vmcore only when it is complete;
//  7. run the kdump_post hook with the result as $1 (0 for a complete dump);
//  8. final_action (reboot, halt, poweroff) on success, failure_action on failure.
//
// Dumps go to <target>/<path>/<host>-<YYYY-MM-DD-HH:MM:SS>/ (files 0600, directories
// 0700) with gokdump-status.json beside them (package dumpdir names the directory and
// its files, and writes the status). <host> is the crashed kernel's
// node name, read from init_uts_ns in the dump: Fedora uses the IP address, but the
// capture kernel usually has no network, and the name is what the machine called itself.
// When the dump does not give it, "127.0.0.1" is used, as Fedora does for local targets.
// The time is the capture kernel's clock, in UTC (the capture kernel has no time zone).
//
// Every outside effect goes through Flow's fields (target, machine, clock, file creation,
// hook runner), so the whole flow runs in unit tests against a synthetic vmcore and a
// temp directory. dumpdir.List reads the saved dumps back on the next boot.
//
// failure_action dump_to_rootfs: when the configured target fails (it cannot be
// found or mounted, or the dump cannot be written there: Flow.saveTo says which
// failures count), the dump is saved again, in a new dump directory under path on the
// machine's root file system, which the image builder recorded at arming and the
// capture mounts read-write at /sysroot; its status file's "fallback" says which
// target failed and why. final_action follows; when that save fails too, the machine
// reboots. A dump cut short on the target stays there, marked incomplete.
//
// failure_action shell runs /bin/sh when the initramfs holds one (extra_bins /bin/sh),
// and reboots when it exits or is missing.
//
// A raw target (kdump.conf's raw, Flow.Raw from RawTargetFor) replaces steps 2 and
// 4 to 6: the partition recorded at arming is found by its GPT partition GUID and the
// dump written there by package rawdump (a header, the flattened stream, the final
// header); the next boot's gokdump start turns it into a dump directory.
//
// Network targets: for ssh and nfs the flow first brings up the network start
// recorded (Flow.Network, netconf.Up: interface by MAC, addresses or DHCP, carrier,
// all bounded) and fails to failure_action when it cannot. NFS is a mounted Target
// (target.NFS). ssh is a RemoteTarget: the same files are written through the
// connection (SSHTarget: SFTP random-access writes, so the server holds an ordinary
// kdump-compressed vmcore, synced and renamed from vmcore-incomplete; a server without
// SFTP gets the flattened stream through cat, rebuilt there by gokdump dump -R when
// gokdump is on its PATH, else kept as vmcore.flat and said so in the status).
//
// The Flow's settings come from kdump.conf: ParseCollector turns core_collector into
// the collector's options and dump levels with the parser "gokdump dump" uses (package
// makedumpfile), TargetFor turns the target directive (or the device the image builder
// found) into a Target.
package capture
