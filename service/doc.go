// Package service is the first kernel's half of the kdump service: it builds the
// capture initramfs from kdump.conf (the gokdump binary as /init, the configuration,
// the kernel modules that reach the dump target, extra programs with their shared
// libraries, the hooks), decides when that image must be rebuilt, arms the capture
// kernel with it (Start, Stop), reports the arming state and the dumps saved since
// boot (ReadStatus), and recommends a crashkernel= size (Estimate).
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
