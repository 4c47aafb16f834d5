// Package packaging holds what "make package" builds the gokdump .deb and .rpm from:
// nfpm.yaml (nfpm, pinned in go.mod as a tool, never linked into gokdump), the
// maintainer scripts that give gokdump the makedumpfile and vmcore-dmesg names where no
// real tool is installed (postinst, prerm), and manpage.sh, which makes gokdump(8) from
// the binary's help. Its test builds both packages and checks them with dpkg-deb, an
// install into a scratch root with dpkg --root, and rpm -qp.
package packaging
