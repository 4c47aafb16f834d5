package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/gokdump/gokdump/format/flat"
	"github.com/gokdump/gokdump/format/kdump"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/vmcore"
)

// vmcoreDmesg is gokdump run under the name "vmcore-dmesg": kexec-tools'
// vmcore-dmesg (2.0.25), with its one operand, its output (the log as "gokdump dmesg"
// prints it, byte for byte the same) and its messages and exit codes for the failures
// scripts meet: 1 usage, 2 the file cannot be opened, 3 its first bytes cannot be
// read, 4 not an ELF file, 5-7 a bad ELF identification, 10 other ELF damage, 50 no
// kernel log described (vmcore-dmesg's "Missing the log_buf symbol"), 65 the log
// cannot be read whole (the records before the damage are printed first). Unlike
// vmcore-dmesg it also reads kdump-compressed and flattened dumps.
func vmcoreDmesg(e *env, argv0 string, args []string) int {
	if len(args) != 1 {
		fmt.Fprintf(e.stderr, "usage: %s <kernel core file>\n", argv0)
		return 1
	}
	name := args[0]
	fd, err := os.Open(name)
	if err != nil {
		fmt.Fprintf(e.stderr, "Cannot open %s: %s\n", name, strerror(err))
		return 2
	}
	var ident [16]byte
	n, err := fd.ReadAt(ident[:], 0)
	fd.Close()
	if n != len(ident) {
		if err == io.EOF {
			err = nil // a short file: vmcore-dmesg's errno is then 0
		}
		fmt.Fprintf(e.stderr, "Read of e_ident from %s failed: %s\nUnable to read ELF information from vmcore\n", name, strerror(err))
		return 3
	}
	if code := checkIdent(e, ident[:]); code != 0 {
		fmt.Fprintln(e.stderr, "Unable to read ELF information from vmcore")
		return code
	}
	f, err := vmcore.Open(name)
	if err != nil {
		fmt.Fprintf(e.stderr, "%v\nUnable to read ELF information from vmcore\n", err)
		return 10
	}
	defer f.Close()
	log, readErr := printk.ReadFile(f)
	if log != nil {
		if err := log.WriteText(e.stdout); err != nil {
			fmt.Fprintf(e.stderr, "Failed to write out the dmesg log buffer!: %s\n", strerror(err))
			return 54
		}
	}
	switch {
	case errors.Is(readErr, printk.ErrNoLog):
		fmt.Fprintln(e.stderr, "Missing the log_buf symbol")
		return 50
	case readErr != nil:
		fmt.Fprintln(e.stderr, readErr)
		return 65
	}
	return 0
}

// checkIdent is read_elf's check of e_ident, with its messages and return values; the
// dump formats gokdump reads besides ELF pass.
func checkIdent(e *env, id []byte) int {
	switch {
	case bytes.HasPrefix(id, []byte(kdump.Signature)), bytes.HasPrefix(id, []byte(flat.Signature)):
		return 0
	case !bytes.HasPrefix(id, []byte("\x7fELF")):
		fmt.Fprintln(e.stderr, "Missing elf signature")
		return 4
	case id[6] != 1: // EI_VERSION: EV_CURRENT
		fmt.Fprintln(e.stderr, "Bad elf version")
		return 5
	case id[4] != 1 && id[4] != 2: // EI_CLASS
		fmt.Fprintf(e.stderr, "Unknown elf class %d\n", id[4])
		return 6
	case id[5] != 1 && id[5] != 2: // EI_DATA
		fmt.Fprintf(e.stderr, "Unkown elf data order %d\n", id[5]) // sic, as vmcore-dmesg
		return 7
	}
	return 0
}

// strerror is C's strerror(3) text for err's errno ("No such file or directory"):
// Go's texts are the same words uncapitalised. No errno is "Success", as glibc says.
func strerror(err error) string {
	var errno syscall.Errno
	if err == nil {
		return "Success"
	}
	if !errors.As(err, &errno) {
		return err.Error()
	}
	s := errno.Error()
	r, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[size:]
}
