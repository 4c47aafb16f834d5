package assemble

import (
	"fmt"
	"math/bits"
	"strings"
)

// ParseAddress parses the value of the kernel's elfcorehdr= option as the capture
// kernel does (kernel/crash_dump.c: setup_elfcorehdr): [size@]address, where each
// number is read like the kernel's memparse: decimal, hexadecimal after "0x", octal
// after a leading "0", then an optional K, M, G, T, P or E suffix (binary multiples).
// kexec_file_load writes "0x27000000", kexec-tools' kexec_load "1031540K"; the size
// prefix appears on some architectures. A leading "elfcorehdr=" is accepted too, so a
// word of /proc/cmdline can be passed as it is. size is 0 when not given.
//
// Unlike the kernel, the whole string must be a valid value, and numbers that do not
// fit in 64 bits are refused.
func ParseAddress(s string) (addr, size uint64, err error) {
	v := strings.TrimPrefix(s, "elfcorehdr=")
	sizeText, addrText, hasSize := strings.Cut(v, "@")
	if !hasSize {
		addrText = sizeText
	} else if size, err = parseMem(sizeText); err != nil {
		return 0, 0, fmt.Errorf("assemble: elfcorehdr %q: size: %w", s, err)
	}
	if addr, err = parseMem(addrText); err != nil {
		return 0, 0, fmt.Errorf("assemble: elfcorehdr %q: address: %w", s, err)
	}
	return addr, size, nil
}

// parseMem reads one number as the kernel's memparse does, but strictly.
func parseMem(s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	base, digits := uint64(10), s
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0' && s[1] >= '0' && s[1] <= '9':
		base, digits = 8, s[1:]
	}
	var v uint64
	i := 0
	for ; i < len(digits); i++ {
		d := digitValue(digits[i])
		if d >= base {
			break
		}
		hi, lo := bits.Mul64(v, base)
		if hi != 0 || lo+d < lo {
			return 0, fmt.Errorf("%q does not fit in 64 bits", s)
		}
		v = lo + d
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a number (want decimal, 0x hex or 0 octal, optionally with K, M, G, T, P or E)", s)
	}
	rest := digits[i:]
	if rest == "" {
		return v, nil
	}
	shift := map[byte]uint{'k': 10, 'm': 20, 'g': 30, 't': 40, 'p': 50, 'e': 60}[lower(rest[0])]
	if len(rest) != 1 || shift == 0 {
		return 0, fmt.Errorf("%q: unexpected %q after the number (want K, M, G, T, P or E)", s, rest)
	}
	if v<<shift>>shift != v {
		return 0, fmt.Errorf("%q does not fit in 64 bits", s)
	}
	return v << shift, nil
}

func digitValue(c byte) uint64 {
	switch {
	case c >= '0' && c <= '9':
		return uint64(c - '0')
	case c >= 'a' && c <= 'f':
		return uint64(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return uint64(c-'A') + 10
	}
	return 99
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
