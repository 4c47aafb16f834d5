package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/gokdump/gokdump/internal/sid"
)

// sidPackages are Debian unstable's makedumpfile and the libraries it loads (with
// sid's glibc, newer than the host's: the program runs through sid's own loader).
var sidPackages = []string{"makedumpfile", "libc6", "libdw1t64", "libelf1t64",
	"liblzo2-2", "libzstd1", "zlib1g", "liblzma5", "libbz2-1.0"}

// sidMakedumpfile returns the argv prefix that runs Debian unstable's makedumpfile
// (1.7.8, zstd built in) without installing anything (package sid), fetched the first
// time into cache/sid/root.
func sidMakedumpfile(ctx context.Context, stdout io.Writer, cache string) ([]string, error) {
	const prog = "usr/bin/makedumpfile"
	root, err := sid.Root(ctx, filepath.Join(cache, "sid"), sidPackages, []string{prog, "-v"},
		func(format string, args ...any) { fmt.Fprintf(stdout, format+"\n", args...) })
	if err != nil {
		return nil, err
	}
	return sid.Argv(root, prog), nil
}
