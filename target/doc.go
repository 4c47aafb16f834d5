// Package target reaches the place a capture kernel saves a dump to: a local file
// system named by its device path, LABEL= or UUID=, as kdump.conf's
// "ext4|xfs|btrfs <dev|LABEL=|UUID=>" lines give it (Local); an NFS export, mounted
// with the kernel's client through mount(2) text options (NFS); an ssh server, written
// with SFTP random-access writes or, without SFTP, a flattened stream through fixed
// remote commands, its host key checked against the keys recorded at arming (SSH).
//
// There is no udev or blkid in a capture initramfs, so the labels and UUIDs are read
// here, from the file systems' own superblocks (ext2/3/4, XFS, Btrfs), on every block
// device /sys/class/block lists; a device that has not appeared yet (its driver is still
// probing) is waited for, for a bounded time.
//
//	dev, err := target.ParseDevice("LABEL=gokdump-dumps")
//	l := &target.Local{FSType: "ext4", Device: dev, Wait: 30 * time.Second, MountPoint: "/kdumproot"}
//	root, err := l.Mount(ctx) // dumps go under root + kdump.conf's path
//	defer l.Unmount()
//
// Raw partitions are package rawdump's (they are never mounted); the network under an
// ssh or nfs target is package netconf's, and LVM or md under a file system package
// volume's.
package target
