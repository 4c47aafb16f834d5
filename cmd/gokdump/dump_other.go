//go:build !linux

package main

import "io"

// isTerminal reports false: the progress line is drawn only on Linux terminals.
func isTerminal(io.Writer) bool { return false }
