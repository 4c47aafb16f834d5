# gokdump: the two set-up commands are `make demo` and `make test` (see README.md).
# Both install what they need on a fresh Debian machine (run as root).

GO       ?= go
GOFLAGS  ?=
BIN      := bin/gokdump
# Debian packages the tests and the demo use: QEMU for the real-crash lab, the reference
# tools whose output ours is compared with, and build helpers for interop tests.
APT_PKGS := qemu-system-x86 cpio makedumpfile kexec-tools e2fsprogs gcc liblzo2-dev \
            zlib1g-dev libsnappy-dev libzstd-dev \
            python3 python3-libkdumpfile lvm2 mdadm xfsprogs \
            openssh-server nfs-ganesha nfs-ganesha-vfs iproute2
TEST_TIMEOUT ?= 75m

.PHONY: all build deps test test-short test-race test-crash demo bench fuzz clean install

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/gokdump

# deps installs the missing Debian packages (apt-get update only when something is missing)
# and downloads the Go modules.
deps:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
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
# and TLB), the network target's bounded mounts, ssh streams and retries. About 3 minutes on 2 cores (the collector most of it). The tests that count
# allocations skip themselves here (testenv.SkipAllocsUnderRace); the run above asserts them.
RACE_PKGS := ./collector ./capture ./compress/... ./arch/x86 ./target ./netconf
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

# test-crash has the crash utility open every kind of dump gokdump writes of real lab
# crashes (6.1 and 6.12): sys, log, bt, ps, kmem -i, held to crash's output for
# makedumpfile's dump. Not in `make test`: it fetches each kernel's -dbg package (~1 GB)
# once and keeps only its vmlinux in .cache/debug/.
test-crash: deps
	@command -v crash >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q crash
	GOKDUMP_TEST_CRASH=1 $(GO) test -timeout 90m -run '^TestCrashUtility$$' -v ./lab/

# bench measures gokdump dump against makedumpfile on lab vmcores of a 1 GiB and a 6 GiB
# guest (made once into .cache/bench/, ~15 GB of disk) and prints the table and each
# performance target as PASS or MISS; a MISS does not fail the build. BENCH_FLAGS are
# passed on (e.g. BENCH_FLAGS="-runs 5 -vmcores 1g").
BENCH_FLAGS ?=
bench: deps
	$(GO) run ./bench/cmd/gokdump-bench $(BENCH_FLAGS)

fuzz:
	@for p in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$p | grep '^Fuzz'); do \
	    echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime 30s $$p || exit 1; \
	  done; \
	done

# install puts the binary in $(SBINDIR), the systemd unit (running that binary) in
# $(UNITDIR), the udev rule that re-arms on LVM/md layout changes in $(UDEVRULESDIR),
# and the documented default kdump.conf in $(SYSCONFDIR) unless one is there already.
# DESTDIR stages the tree (packaging); PREFIX moves the binary.
PREFIX       ?= /usr
SBINDIR      ?= $(PREFIX)/sbin
UNITDIR      ?= /lib/systemd/system
UDEVRULESDIR ?= /lib/udev/rules.d
SYSCONFDIR   ?= /etc

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/gokdump
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed 's|/usr/sbin/gokdump|$(SBINDIR)/gokdump|g' dist/gokdump.service > $(DESTDIR)$(UNITDIR)/gokdump.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/gokdump.service
	install -D -m 0644 dist/98-gokdump.rules $(DESTDIR)$(UDEVRULESDIR)/98-gokdump.rules
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/kdump.conf ]; then \
	  echo "keeping the existing $(DESTDIR)$(SYSCONFDIR)/kdump.conf"; \
	else \
	  install -D -m 0644 dist/kdump.conf $(DESTDIR)$(SYSCONFDIR)/kdump.conf; \
	fi

clean:
	rm -rf bin
