package vmcore

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// VMCOREINFO is the parsed text of the VMCOREINFO note: KEY=value lines
// that the crashed kernel wrote for dump tools (kernel/vmcore_info.c and
// the arch's arch_crash_save_vmcoreinfo). The kernel formats
//
//	SYMBOL(name)=%lx   address, hex, already relocated by KASLR
//	SIZE(type)=%lu  OFFSET(type.member)=%lu  LENGTH(name)=%lu   decimal
//	NUMBER(name)=%ld   decimal, may be negative (arm64 writes some as 0x%llx)
//	OSRELEASE, PAGESIZE, CRASHTIME, KERNELOFFSET (hex), BUILD-ID   plain keys
//
// Keys this package does not know are kept and can be read with Get: every
// kernel release adds some. Values of the typed forms and of the known plain
// keys are checked when parsing, so lookups never return garbage.
type VMCOREINFO struct {
	raw    []byte
	keys   []string          // in note order, first occurrence only
	values map[string]string // key -> value text
	nums   map[string]uint64 // checked numeric value of typed keys (NUMBER as two's complement)
}

// ParseVMCOREINFO parses the descriptor of a VMCOREINFO note. Trailing NUL
// bytes are ignored and the last line may lack its newline (the kernel
// always writes one; a producer that does not is tolerated). Empty lines are
// skipped. When a key appears twice, the first value is kept, as
// makedumpfile does.
//
// A line without '=' or with an empty key, and a value that does not fit its
// key's form (SYMBOL not hex, SIZE not decimal, ...), is an error: such a
// note is damaged and lookups on it could not be trusted. The error is a
// *FormatError whose offset is the line's offset in b and whose message
// names the line number.
func ParseVMCOREINFO(b []byte) (*VMCOREINFO, error) {
	v := &VMCOREINFO{
		raw:    b,
		values: make(map[string]string),
		nums:   make(map[string]uint64),
	}
	text := bytes.TrimRight(b, "\x00")
	lineNo := 0
	// Each pass consumes one line, so the loop ends.
	for pos := 0; pos < len(text); {
		lineNo++
		line := text[pos:]
		next := len(text)
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
			next = pos + i + 1
		}
		if err := v.addLine(string(line)); err != nil {
			return nil, &FormatError{Off: int64(pos), Msg: fmt.Sprintf("VMCOREINFO line %d: %v", lineNo, err)}
		}
		pos = next
	}
	return v, nil
}

func (v *VMCOREINFO) addLine(line string) error {
	if line == "" {
		return nil
	}
	key, val, ok := strings.Cut(line, "=")
	if !ok {
		return fmt.Errorf("no '=' in %q", clip(line))
	}
	if key == "" {
		return fmt.Errorf("empty key in %q", clip(line))
	}
	if _, dup := v.values[key]; dup {
		return nil
	}
	if n, isNum, err := parseTyped(key, val); err != nil {
		return fmt.Errorf("%s: %v", key, err)
	} else if isNum {
		v.nums[key] = n
	}
	v.keys = append(v.keys, key)
	v.values[key] = val
	return nil
}

// parseTyped checks the value of a key whose form is known and returns its
// numeric value.
func parseTyped(key, val string) (n uint64, isNum bool, err error) {
	form, _, typed := strings.Cut(key, "(")
	if typed && !strings.HasSuffix(key, ")") {
		typed = false // not one of the KIND(name) forms
	}
	switch {
	case typed && form == "SYMBOL", !typed && key == "KERNELOFFSET":
		n, err = parseHex(val)
	case typed && (form == "SIZE" || form == "OFFSET" || form == "LENGTH"), !typed && (key == "PAGESIZE" || key == "CRASHTIME"):
		n, err = parseUnsigned(val)
	case typed && form == "NUMBER":
		n, err = parseSigned(val)
	default:
		return 0, false, nil
	}
	return n, true, err
}

func parseHex(s string) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q is not a hex number", clip(s))
	}
	return n, nil
}

func parseUnsigned(s string) (uint64, error) {
	if strings.HasPrefix(s, "0x") {
		return parseHex(s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q is not an unsigned decimal number", clip(s))
	}
	return n, nil
}

// parseSigned reads a NUMBER: %ld decimal, or 0x hex as arm64 writes some
// (kimage_voffset), kept as the bits of a 64-bit long.
func parseSigned(s string) (uint64, error) {
	if strings.HasPrefix(s, "0x") {
		return parseHex(s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q is not a decimal number", clip(s))
	}
	return uint64(n), nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Raw returns the note's bytes exactly as given to ParseVMCOREINFO, for
// writers that copy the note into a new dump.
func (v *VMCOREINFO) Raw() []byte { return v.raw }

// Keys returns the keys in note order.
func (v *VMCOREINFO) Keys() []string { return append([]string(nil), v.keys...) }

// Get returns the value text of any key, e.g. Get("OSRELEASE") or
// Get("SYMBOL(_stext)").
func (v *VMCOREINFO) Get(key string) (string, bool) {
	s, ok := v.values[key]
	return s, ok
}

func (v *VMCOREINFO) num(key string) (uint64, bool) {
	n, ok := v.nums[key]
	return n, ok
}

// Symbol returns SYMBOL(name), a kernel virtual address.
func (v *VMCOREINFO) Symbol(name string) (uint64, bool) { return v.num("SYMBOL(" + name + ")") }

// Size returns SIZE(name), the size of a type in bytes.
func (v *VMCOREINFO) Size(name string) (uint64, bool) { return v.num("SIZE(" + name + ")") }

// Offset returns OFFSET(name), e.g. Offset("page.flags").
func (v *VMCOREINFO) Offset(name string) (uint64, bool) { return v.num("OFFSET(" + name + ")") }

// Length returns LENGTH(name), the element count of an array.
func (v *VMCOREINFO) Length(name string) (uint64, bool) { return v.num("LENGTH(" + name + ")") }

// Number returns NUMBER(name), a signed constant.
func (v *VMCOREINFO) Number(name string) (int64, bool) {
	n, ok := v.num("NUMBER(" + name + ")")
	return int64(n), ok
}

// OSRelease returns OSRELEASE, the crashed kernel's `uname -r`.
func (v *VMCOREINFO) OSRelease() (string, bool) { return v.Get("OSRELEASE") }

// PageSize returns PAGESIZE in bytes.
func (v *VMCOREINFO) PageSize() (uint64, bool) { return v.num("PAGESIZE") }

// CrashTime returns CRASHTIME (seconds since the epoch, written when the
// kernel crashed) in UTC.
func (v *VMCOREINFO) CrashTime() (time.Time, bool) {
	n, ok := v.num("CRASHTIME")
	if !ok || n > math.MaxInt64 {
		return time.Time{}, false
	}
	return time.Unix(int64(n), 0).UTC(), true
}

// KernelOffset returns KERNELOFFSET, the KASLR displacement of the kernel
// image (0 without KASLR).
func (v *VMCOREINFO) KernelOffset() (uint64, bool) { return v.num("KERNELOFFSET") }

// BuildID returns BUILD-ID, the hex build ID of vmlinux (kernel 5.9+).
func (v *VMCOREINFO) BuildID() (string, bool) { return v.Get("BUILD-ID") }

// PhysBase returns NUMBER(phys_base) (x86_64): the physical address the
// kernel image was loaded at minus its link-time address.
func (v *VMCOREINFO) PhysBase() (uint64, bool) {
	n, ok := v.Number("phys_base")
	return uint64(n), ok
}
