// Package dist holds the files "make install" puts beside the gokdump binary: the
// systemd unit gokdump.service, which arms the capture kernel at boot ("gokdump
// start") and disarms it at shutdown ("gokdump stop"); the udev rule
// 98-gokdump.rules, which re-arms (restarts the unit) when a device-mapper or md
// device is added, changed or removed, so the LVM/md layout recorded in the capture
// initramfs follows lvextend, pvmove and replaced disks; and the default
// /etc/kdump.conf, documented. It has no Go code; its tests run "make install"
// into a temporary DESTDIR and check the installed tree, and read the udev rule with
// a small evaluator of its syntax (which events re-arm, which programs it runs).
package dist
