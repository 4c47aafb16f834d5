# gokdump: the two set-up commands are `make demo` and `make test` (see README.md).
# Both install what they need on a fresh Debian machine (run as root).

GO       ?= go
GOFLAGS  ?=
BIN      := bin/gokdump
# Debian packages the tests and the demo use: QEMU for the real-crash lab, the reference
# tools whose output ours is compared with, and build helpers for interop tests.
APT_PKGS := qemu-system-x86 cpio makedumpfile kexec-tools e2fsprogs gcc liblzo2-dev \
            zlib1g-dev libsnappy-dev libzstd-dev \
            python3 python3-libkdumpfile
TEST_TIMEOUT ?= 75m

.PHONY: all build deps test test-short demo bench fuzz clean

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

# test runs every test: unit tests, fuzz seed corpora and the real-crash lab (QEMU).
test: deps
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./...
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

# test-short leaves out the real-crash lab (quick iteration while developing).
test-short:
	$(GO) test -short ./...

# demo crashes a real Debian kernel in QEMU, captures it with gokdump in the capture
# kernel, and prints `gokdump info` of the saved dump.
demo: deps build
	$(GO) run ./lab/cmd/labcrash -demo

fuzz:
	@for p in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$p | grep '^Fuzz'); do \
	    echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime 30s $$p || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
