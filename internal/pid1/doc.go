// Package pid1 is what every init process of a gokdump initramfs does around its job:
// the basic mounts before it (MountBasics) and powering the machine off after it
// (PowerOff). Two programs are such an init: gokdump itself (its "init" command, the
// capture service) and the real-crash lab's guest (lab/cmd/labinit).
//
// It is not the job: what an init does between the two calls belongs to its program.
// Linux only; elsewhere the package is empty.
package pid1
