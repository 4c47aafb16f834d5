// Package mm classifies the page frames of a crashed x86_64 Linux kernel.
package mm
