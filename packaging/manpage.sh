#!/bin/sh
# manpage.sh GOKDUMP: gokdump(8) in roff, made from the binary's own help ("gokdump help"
# and each command's --help), so the page says what the binary does.
set -e
bin="$1"
esc() { sed -e 's/\\/\\e/g' -e "s/^[.']/\\\\\\&&/"; }
cat <<'HEAD'
.TH GOKDUMP 8 "" "gokdump" "System Administration"
.SH NAME
gokdump \- the Linux kdump user-space stack in one binary
.SH SYNOPSIS
.B gokdump
.I COMMAND
[\fIOPTIONS\fR] [\fIARGS\fR]
.br
.B makedumpfile
[\fIOPTIONS\fR] \fIVMCORE\fR \fIDUMPFILE\fR
.br
.B vmcore-dmesg
.I VMCORE
.SH DESCRIPTION
Run as \fBmakedumpfile\fR, gokdump behaves as \fBgokdump dump\fR (makedumpfile 1.7.2's
options); run as \fBvmcore-dmesg\fR, as kexec-tools' vmcore-dmesg. The package links
those names to gokdump where no real tool is installed.
.PP
.nf
HEAD
"$bin" help | esc
echo ".fi"
echo ".SH COMMANDS"
for c in $("$bin" help | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p'); do
	echo ".SS $c"
	echo ".nf"
	"$bin" help "$c" 2>&1 | esc || true
	echo ".fi"
done
cat <<'TAIL'
.SH FILES
.TP
.I /etc/kdump.conf
the configuration (Fedora/RHEL kdump.conf syntax)
.TP
.I /lib/systemd/system/gokdump.service
arms the capture kernel at boot
.SH SEE ALSO
.BR makedumpfile (8),
.BR vmcore-dmesg (8),
.BR kdump.conf (5)
TAIL
