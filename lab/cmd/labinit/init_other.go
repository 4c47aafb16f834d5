//go:build !linux

package main

import (
	"context"
	"fmt"
	"io"
)

func run(ctx context.Context, console, stderr io.Writer) int {
	fmt.Fprintln(stderr, "labinit: runs only on Linux")
	return 1
}
