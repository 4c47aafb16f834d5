// Package mountinfo reads a mountinfo file, /proc/<pid>/mountinfo (proc(5)): which file
// system is mounted where, from which device. It is the one parser of it: the service
// finds the file system a dump path is on and where the target is mounted with it, and
// package target where a block device is mounted.
//
//	f, err := os.Open("/proc/self/mountinfo")
//	...
//	mounts, err := mountinfo.Parse(f, "/proc/self/mountinfo")
//
// It does not mount anything or read /proc/mounts (whose layout differs).
package mountinfo
