// Package service is the first kernel's half of the kdump service: it builds the
// capture initramfs from kdump.conf (the gokdump binary as /init, the configuration,
// the kernel modules that reach the dump target, extra programs with their shared
// libraries, the hooks), decides when that image must be rebuilt, arms the capture
// kernel with it (Start, Stop), reports the arming state and the dumps saved since
// boot (ReadStatus), and recommends a crashkernel= size (Estimate).
//
// Before it arms, Start runs Preflight, which "gokdump config check" runs too:
// directives the capture does not carry out are refused on their lines
// (CheckDirectives); the dump device's LVM/md stack is described (package volume)
// and recorded in the image's CaptureInfo, or refused when the capture could not bring
// it up (thin, cache or raid LVs, LUKS, multipath, md other than RAID1 1.2); the
// modules come from the release being armed, including those of drivers built into
// the running kernel but modules there (modules.builtin says which are built in); the
// file system on the device must be the directive's; and a target mounted here with
// less room than an estimated dump (DumpSize) is a warning with the numbers. The
// image is rebuilt when the recorded stack changes (the udev rule in dist re-runs
// start on dm and md events).
//
// Everything it reads of the machine goes through a System, whose roots (/proc,
// /sys, /dev, /boot, /lib/modules, /var/lib/gokdump) tests point at directories of
// their own; only Start and Stop make system calls (through package kexec).
//
//	sys := service.Host()
//	cfg, _ := config.Load(config.DefaultFile)
//	res, err := sys.Start(service.StartOptions{Config: cfg, ConfigData: data})
//
// The capture side (what /init does in the capture kernel) reads the CaptureInfo
// this package writes into the image.
package service
