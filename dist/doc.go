// Package dist holds the files "make install" puts beside the gokdump binary: the
// systemd unit gokdump.service, which arms the capture kernel at boot ("gokdump
// start") and disarms it at shutdown ("gokdump stop"), and the default
// /etc/kdump.conf, documented. It has no Go code; its test runs "make install"
// into a temporary DESTDIR and checks the installed tree.
package dist
