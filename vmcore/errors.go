package vmcore

import (
	"errors"
	"fmt"

	"github.com/gokdump/gokdump/format/elfcore"
	"github.com/gokdump/gokdump/format/flat"
	"github.com/gokdump/gokdump/format/kdump"
)

// FormatError reports input that is not a well-formed vmcore. It carries the
// file name and the byte offset of the offending data so that a damaged dump
// can be looked at with a hex editor.
type FormatError struct {
	File string // the name given to Open or NewFile; empty for parsers of bare bytes
	Off  int64  // byte offset in File (or in the parsed bytes) of the bad data
	Msg  string // what was found and what was expected
}

func (e *FormatError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("vmcore: offset 0x%x: %s", e.Off, e.Msg)
	}
	return fmt.Sprintf("vmcore: %s: offset 0x%x: %s", e.File, e.Off, e.Msg)
}

// ErrHole is matched (with errors.Is) by every *HoleError.
var ErrHole = errors.New("vmcore: physical address not in any PT_LOAD")

// HoleError reports a physical address that no PT_LOAD segment describes.
// Such memory was not dumped; its contents are unknown (not zero).
type HoleError struct {
	Addr uint64 // first physical address of the read that has no data
}

func (e *HoleError) Error() string {
	return fmt.Sprintf("vmcore: physical address 0x%x not in any PT_LOAD", e.Addr)
}

// Is makes errors.Is(err, ErrHole) true for a *HoleError.
func (e *HoleError) Is(target error) bool { return target == ErrHole }

// ErrNoVMCOREINFO is returned by File.VMCOREINFO when the dump has no
// VMCOREINFO note (for example a core of a user process, or a dump from a
// kernel built without CONFIG_CRASH_CORE).
var ErrNoVMCOREINFO = errors.New("vmcore: no VMCOREINFO note")

// withFile returns err with the file name set and the offset moved by base,
// when err is a *FormatError from a parser of bare bytes: ours, or one of
// the format packages'.
func withFile(err error, file string, base int64) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return &FormatError{File: file, Off: base + fe.Off, Msg: fe.Msg}
	}
	var ke *kdump.FormatError
	if errors.As(err, &ke) {
		return &FormatError{File: file, Off: base + ke.Off, Msg: ke.Msg}
	}
	var ee *elfcore.FormatError
	if errors.As(err, &ee) {
		return &FormatError{File: file, Off: base + ee.Off, Msg: ee.Msg}
	}
	var fle *flat.FormatError
	if errors.As(err, &fle) {
		return &FormatError{File: file, Off: base + fle.Off, Msg: fle.Msg}
	}
	return err
}
