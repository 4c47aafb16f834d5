# gokdump: the two set-up commands are `make demo` and `make test` (see README.md).
# Both install what they need on a fresh Debian machine (run as root).

GO       ?= go
GOFLAGS  ?=
BIN      := bin/gokdump
# Debian packages the tests and the demo use: QEMU for the real-crash lab, the reference
# tools whose output ours is compared with (crash among them), build helpers for interop
# tests, udev (its rule engine checks our rule), and headless Chromium for the web page
# test (lab/fleet_test.go).
APT_PKGS := qemu-system-x86 cpio makedumpfile kexec-tools e2fsprogs fdisk gcc liblzo2-dev \
            zlib1g-dev libsnappy-dev libzstd-dev \
            python3 python3-libkdumpfile lvm2 mdadm xfsprogs cryptsetup-bin rpm grub2-common \
            openssh-server nfs-ganesha nfs-ganesha-vfs iproute2 crash udev chromium
TEST_TIMEOUT ?= 75m

.PHONY: all build deps test test-short test-race test-crash demo demo-fleet bench fuzz clean install package

all: build

# -s -w: no symbol table or DWARF (Go's own tracebacks keep working): the binary is the
# capture initramfs's /init, and its size is most of what the capture kernel unpacks
# before gokdump runs, which sets the smallest reservation (docs/reservation.md).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN) ./cmd/gokdump

# deps installs the missing Debian packages (apt-get update only when something is missing)
# and downloads the Go modules. While it installs, a policy-rc.d (unless the machine has
# one) keeps the packages' services from starting: openssh-server and nfs-ganesha would
# otherwise start a system sshd and NFS server on every address; the tests start their
# own, on 127.0.0.1.
deps:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && \
	    trap 'rm -f /usr/sbin/policy-rc.d' EXIT; \
	  fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
	$(GO) mod download

# test runs every test: unit tests, fuzz seed corpora and the real-crash lab (QEMU),
# then the race run.
test: deps
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./...
	$(GO) test -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) test-race

# test-race runs the short tests of the packages that run goroutines under the race
# detector: the collector's classify and compress workers, the capture's kernel log
# reader, the codecs those workers call, and the address space they share (its cache
# and TLB) and the /proc/vmcore mmap reader under it, the network target's bounded mounts, ssh streams and retries. About 3 minutes on 2 cores (the collector most of it). The tests that count
# allocations skip themselves here (testenv.SkipAllocsUnderRace); the run above asserts them.
RACE_PKGS := ./collector ./capture ./compress/... ./arch/x86 ./target ./netconf ./serve ./vmcore
test-race:
	$(GO) test -race -short -timeout 30m $(RACE_PKGS)

# test-short leaves out the real-crash lab (quick iteration while developing).
test-short:
	$(GO) test -short ./...

# demo runs the kdump service end to end on a real Debian kernel in QEMU: the guest
# writes kdump.conf (an ext4 target on a second disk), arms with `gokdump start` and
# crashes; the capture kernel's gokdump saves the dump there; the host copies it out
# (debugfs) and prints `gokdump list` and `gokdump info` of the saved dump.
demo: deps build
	$(GO) run ./lab/cmd/labcrash -demo -service

# demo-fleet is the demo with a fleet step: the saved dump goes to a local crash store
# (.cache/demo-fleet, gokdump upload --store) and gokdump serve shows its group; it
# prints the group page's URL (http://127.0.0.1:8137/group/<signature>).
demo-fleet: deps build
	$(GO) run ./lab/cmd/labcrash -demo -service -fleet .cache/demo-fleet

# test-crash runs only the crash utility's check of every kind of dump gokdump writes
# of the lab's crashes, 6.1 and 6.12 (sys, log, bt, ps, kmem -i, held to crash's output
# for makedumpfile's dump), which make test runs too.
test-crash: deps
	@command -v crash >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q crash
	$(GO) test -timeout 90m -run '^TestCrashUtility$$' -v ./lab/

# bench measures gokdump dump against makedumpfile on lab vmcores of a 1 GiB, a 2 GiB
# stale-data and a 6 GiB guest (made once into .cache/bench/, ~21 GB of disk), on all
# CPUs and with one worker (against makedumpfile 1.7.8 from Debian unstable too, fetched
# into .cache/bench/sid/); then, in the capture kernels of two lab crashes (nr_cpus=1
# and 2, ~35 min), gokdump and makedumpfile on /proc/vmcore, and read(2) against mmap(2)
# of /proc/vmcore; then gokdump serve over 100,000 generated crash records (index build
# time and memory, page loads). It prints the tables and each performance target as
# PASS or MISS; a MISS does not fail the build. BENCH_FLAGS are passed on (e.g.
# BENCH_FLAGS="-runs 5 -vmcores 1g", "-sections serve", "-sections capture -capture-runs 1").
# Then the reservation bisection (bench/cmd/gokdump-reservation, docs/reservation.md:
# 1-64 GiB guests captured with shrinking crashkernel=, 10-30 minutes under TCG);
# BENCH_RESERVATION=0 leaves it out, RESERVATION_FLAGS are passed on (e.g. "-guests 1g,64g").
BENCH_FLAGS ?=
BENCH_RESERVATION ?= 1
RESERVATION_FLAGS ?=
bench: deps
	$(GO) run ./bench/cmd/gokdump-bench $(BENCH_FLAGS)
	@if [ "$(BENCH_RESERVATION)" != 0 ]; then $(GO) run ./bench/cmd/gokdump-reservation $(RESERVATION_FLAGS); fi

fuzz:
	@for p in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$p | grep '^Fuzz'); do \
	    echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime 30s $$p || exit 1; \
	  done; \
	done

# install puts the binary in $(SBINDIR), the systemd unit (running that binary) in
# $(UNITDIR), the udev rule that re-arms on LVM/md layout changes and CPU/memory hotplug in $(UDEVRULESDIR),
# the kernel-install plugin that re-applies crashkernel= (auto_reset_crashkernel) in
# $(KERNELINSTALLDIR) and its Debian counterpart in $(SYSCONFDIR)/kernel/postinst.d, and the documented default kdump.conf in $(SYSCONFDIR) unless one is there already
# or Debian's kdump-tools settings are (/etc/default/kdump-tools, which gokdump reads
# when there is no kdump.conf).
# DESTDIR stages the tree (packaging); PREFIX moves the binary.
# It also gives gokdump the names "makedumpfile" and "vmcore-dmesg" (symlinks in
# $(SBINDIR), under which it behaves as those tools) where no real one is installed
# (in $(DESTDIR)/usr/sbin, /usr/bin, /sbin or /bin): COMPAT_LINKS=yes links them even so
# (in $(COMPAT_DIR), ahead in PATH, when the real one is the file the link would
# replace), COMPAT_LINKS=no never. It prints what it did for each name.
COMPAT_LINKS ?= auto
COMPAT_DIR   ?= /usr/local/sbin
PREFIX       ?= /usr
SBINDIR      ?= $(PREFIX)/sbin
UNITDIR      ?= /lib/systemd/system
UDEVRULESDIR ?= /lib/udev/rules.d
KERNELINSTALLDIR ?= /usr/lib/kernel/install.d
SYSCONFDIR   ?= /etc

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/gokdump
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed 's|/usr/sbin/gokdump|$(SBINDIR)/gokdump|g' dist/gokdump.service > $(DESTDIR)$(UNITDIR)/gokdump.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/gokdump.service
	sed 's|/usr/sbin/gokdump|$(SBINDIR)/gokdump|g' dist/gokdump-upload.service > $(DESTDIR)$(UNITDIR)/gokdump-upload.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/gokdump-upload.service
	install -m 0644 dist/gokdump-upload.timer $(DESTDIR)$(UNITDIR)/gokdump-upload.timer
	install -D -m 0644 dist/98-gokdump.rules $(DESTDIR)$(UDEVRULESDIR)/98-gokdump.rules
	install -d -m 0755 $(DESTDIR)$(KERNELINSTALLDIR)
	sed 's|^GOKDUMP=gokdump$$|GOKDUMP=$(SBINDIR)/gokdump|' dist/92-gokdump-crashkernel.install > $(DESTDIR)$(KERNELINSTALLDIR)/92-gokdump-crashkernel.install
	chmod 0755 $(DESTDIR)$(KERNELINSTALLDIR)/92-gokdump-crashkernel.install
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/kernel/postinst.d
	sed 's|^GOKDUMP=gokdump$$|GOKDUMP=$(SBINDIR)/gokdump|' dist/gokdump-crashkernel.postinst > $(DESTDIR)$(SYSCONFDIR)/kernel/postinst.d/gokdump-crashkernel
	chmod 0755 $(DESTDIR)$(SYSCONFDIR)/kernel/postinst.d/gokdump-crashkernel
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/kdump.conf ]; then \
	  echo "keeping the existing $(DESTDIR)$(SYSCONFDIR)/kdump.conf"; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/default/kdump-tools ]; then \
	  echo "no kdump.conf installed: gokdump reads Debian's $(DESTDIR)$(SYSCONFDIR)/default/kdump-tools"; \
	else \
	  install -D -m 0644 dist/kdump.conf $(DESTDIR)$(SYSCONFDIR)/kdump.conf; \
	fi
	@for n in makedumpfile vmcore-dmesg; do \
	  link=$(SBINDIR)/$$n; real=""; \
	  for d in /usr/sbin /usr/bin /sbin /bin; do \
	    f=$(DESTDIR)$$d/$$n; \
	    if [ -e "$$f" ] && ! { [ -L "$$f" ] && [ "$$(basename "$$(readlink "$$f")")" = gokdump ]; }; then real=$$d/$$n; break; fi; \
	  done; \
	  case "$(COMPAT_LINKS)" in \
	  no) echo "$$n: not linked to gokdump (COMPAT_LINKS=no)"; continue;; \
	  yes) ;; \
	  *) if [ -n "$$real" ]; then echo "$$n: the real $$real is installed; not linked to gokdump (COMPAT_LINKS=yes links it anyway)"; continue; fi;; \
	  esac; \
	  if [ -n "$$real" ] && [ "$$(realpath -m $(DESTDIR)$$real)" = "$$(realpath -m $(DESTDIR)$$link)" ]; then link=$(COMPAT_DIR)/$$n; fi; \
	  install -d -m 0755 $(DESTDIR)$$(dirname $$link); \
	  ln -sfn $(SBINDIR)/gokdump $(DESTDIR)$$link; \
	  echo "$$n: $$link -> $(SBINDIR)/gokdump$${real:+ (the real $$real stays; COMPAT_LINKS=yes)}"; \
	done

# package builds the .deb and the .rpm into $(PKGDIR) with nfpm (pinned in go.mod as a
# tool; never linked into gokdump): the binary, the unit, the udev rule, kdump.conf as a
# configuration file, gokdump(8) made from the binary's help, and postinst/prerm scripts
# that give gokdump the makedumpfile and vmcore-dmesg names where no real tool is
# installed (packaging/).
PKGDIR      ?= bin/pkg
PKG_VERSION ?= 0.0~git$(shell git log -1 --format=%cd.%h --date=format:%Y%m%d 2>/dev/null || echo 0)
PKG_ARCH    ?= amd64

package: build
	rm -rf $(PKGDIR) bin/pkg-build && mkdir -p $(PKGDIR) bin/pkg-build
	cp $(BIN) bin/pkg-build/gokdump
	sh packaging/manpage.sh $(BIN) | gzip -9n > bin/pkg-build/gokdump.8.gz
	for p in deb rpm; do \
	  PKG_VERSION='$(PKG_VERSION)' PKG_ARCH='$(PKG_ARCH)' \
	    $(GO) tool nfpm package --config packaging/nfpm.yaml --packager $$p --target $(PKGDIR)/ || exit 1; \
	done
	@ls -l $(PKGDIR)/*.deb $(PKGDIR)/*.rpm

clean:
	rm -rf bin
