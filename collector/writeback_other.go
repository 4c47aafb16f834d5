//go:build !linux

package collector

var startWriteback = func(fd int, off, n int64) {}
