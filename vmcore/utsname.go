package vmcore

// UTSName is the kernel's struct new_utsname: what uname(2) returned on the crashed
// machine. A kdump-compressed file keeps a copy in its main header ([KdumpInfo]); the
// kernel package reads the crashed kernel's own, init_uts_ns.name, through its page
// tables.
type UTSName struct {
	Sysname, Nodename, Release, Version, Machine, Domainname string
}
