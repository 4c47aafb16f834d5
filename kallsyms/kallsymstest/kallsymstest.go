// Package kallsymstest builds kernel symbol tables in memory for tests of package
// kallsyms and of the commands that symbolize addresses: names compressed with a token
// table as the kernel's scripts/kallsyms does, addresses stored under either rule
// (CONFIG_KALLSYMS_ABSOLUTE_PERCPU, base-relative or place-relative offsets, or
// absolute addresses),
// laid out as one block of kernel memory plus the VMCOREINFO lines a 6.0+ kernel
// exports for it.
package kallsymstest

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/gokdump/gokdump/kallsyms"
)

// Tables describes the symbol table to build.
type Tables struct {
	// Symbols in any order; Image sorts them by address (stable), as the kernel does.
	Symbols []kallsyms.Symbol
	// AbsolutePercpu stores symbols of type 'A' (per-CPU offsets, which must be
	// below 2^31) as absolute values and the others below relative_base - 1, as
	// CONFIG_KALLSYMS_ABSOLUTE_PERCPU kernels do; otherwise every address is
	// relative_base + offset.
	AbsolutePercpu bool
	// Absolute writes kallsyms_addresses instead of offsets and a relative base.
	Absolute bool
	// PlaceRelative stores each offset relative to its own address, without a
	// relative base (7.0+).
	PlaceRelative bool
	// ShortCounts writes token counts in one byte always (kernels before 6.1);
	// Image fails if a name needs 128 tokens or more.
	ShortCounts bool
}

// Image lays the tables out at base: kallsyms_num_syms, kallsyms_relative_base,
// kallsyms_offsets (or kallsyms_addresses), kallsyms_names, kallsyms_token_index and
// kallsyms_token_table. It returns the bytes and the VMCOREINFO SYMBOL() lines.
func (t *Tables) Image(base uint64) ([]byte, []string, error) {
	syms := append([]kallsyms.Symbol(nil), t.Symbols...)
	sort.SliceStable(syms, func(i, j int) bool { return syms[i].Addr < syms[j].Addr })
	full := make([]string, len(syms))
	for i, s := range syms {
		if s.Name == "" || s.Type == 0 {
			return nil, nil, fmt.Errorf("kallsymstest: symbol %d has no name or type", i)
		}
		full[i] = string(s.Type) + s.Name
	}
	tokens := buildTokens(full)

	var img []byte
	align := func(n int) {
		for len(img)%n != 0 {
			img = append(img, 0)
		}
	}
	at := map[string]uint64{}
	put := func(name string, b []byte) {
		align(8)
		at[name] = base + uint64(len(img))
		img = append(img, b...)
	}

	put("kallsyms_num_syms", binary.LittleEndian.AppendUint32(nil, uint32(len(syms))))
	if t.Absolute {
		var b []byte
		for _, s := range syms {
			b = binary.LittleEndian.AppendUint64(b, s.Addr)
		}
		put("kallsyms_addresses", b)
	} else if t.PlaceRelative {
		align(8)
		at := base + uint64(len(img))
		var b []byte
		for i, s := range syms {
			d := int64(s.Addr - (at + 4*uint64(i)))
			if d != int64(int32(d)) {
				return nil, nil, fmt.Errorf("kallsymstest: %s at 0x%x is out of 32-bit reach of its offset", s.Name, s.Addr)
			}
			b = binary.LittleEndian.AppendUint32(b, uint32(int32(d)))
		}
		put("kallsyms_offsets", b)
	} else {
		rel := ^uint64(0)
		for _, s := range syms {
			if !(t.AbsolutePercpu && s.Type == 'A') {
				rel = min(rel, s.Addr)
			}
		}
		var b []byte
		for _, s := range syms {
			var v uint32
			switch {
			case t.AbsolutePercpu && s.Type == 'A':
				if s.Addr >= 1<<31 {
					return nil, nil, fmt.Errorf("kallsymstest: per-CPU symbol %s at 0x%x does not fit", s.Name, s.Addr)
				}
				v = uint32(s.Addr)
			case t.AbsolutePercpu:
				d := s.Addr - rel
				if d >= 1<<31-1 {
					return nil, nil, fmt.Errorf("kallsymstest: %s is 0x%x past the base", s.Name, d)
				}
				v = uint32(int32(-int64(d) - 1))
			default:
				d := s.Addr - rel
				if d >= 1<<32 {
					return nil, nil, fmt.Errorf("kallsymstest: %s is 0x%x past the base", s.Name, d)
				}
				v = uint32(d)
			}
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		put("kallsyms_relative_base", binary.LittleEndian.AppendUint64(nil, rel))
		put("kallsyms_offsets", b)
	}

	var names []byte
	for _, f := range full {
		enc := encode(f, tokens)
		n := len(enc)
		switch {
		case n < 0x80:
			names = append(names, byte(n))
		case t.ShortCounts:
			return nil, nil, fmt.Errorf("kallsymstest: %q needs %d tokens, more than a one-byte count holds", f, n)
		default:
			names = append(names, byte(n&0x7f)|0x80, byte(n>>7))
		}
		names = append(names, enc...)
	}
	put("kallsyms_names", names)

	var index, table []byte
	for _, tok := range tokens {
		index = binary.LittleEndian.AppendUint16(index, uint16(len(table)))
		table = append(append(table, tok...), 0)
	}
	put("kallsyms_token_table", table)
	put("kallsyms_token_index", index)

	var lines []string
	for _, k := range []string{"kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table", "kallsyms_token_index",
		"kallsyms_offsets", "kallsyms_relative_base", "kallsyms_addresses"} {
		if a, ok := at[k]; ok {
			lines = append(lines, fmt.Sprintf("SYMBOL(%s)=%x", k, a))
		}
	}
	return img, lines, nil
}

// buildTokens gives every byte that occurs in the names its own character as token
// (so any name can be spelled), and the other byte values the substrings that save
// most, as scripts/kallsyms's table compression does in spirit.
func buildTokens(names []string) [256]string {
	var tokens [256]string
	used := [256]bool{}
	for _, n := range names {
		for i := 0; i < len(n); i++ {
			used[n[i]] = true
		}
	}
	count := map[string]int{}
	for _, n := range names {
		seen := map[string]bool{}
		for l := 2; l <= 8; l++ {
			for i := 0; i+l <= len(n); i++ {
				s := n[i : i+l]
				if !seen[s] {
					seen[s] = true
					count[s]++
				}
			}
		}
	}
	cands := make([]string, 0, len(count))
	for s, c := range count {
		if c > 1 {
			cands = append(cands, s)
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		si, sj := count[cands[i]]*(len(cands[i])-1), count[cands[j]]*(len(cands[j])-1)
		if si != sj {
			return si > sj
		}
		return cands[i] < cands[j]
	})
	next := 0
	for b := range tokens {
		if used[b] {
			tokens[b] = string(rune(b))
			if b >= 0x80 {
				tokens[b] = string([]byte{byte(b)})
			}
			continue
		}
		if next < len(cands) {
			tokens[b] = cands[next]
			next++
		} else {
			tokens[b] = fmt.Sprintf("~%02x", b) // never matches a name: unused
		}
	}
	return tokens
}

// encode spells s greedily with the longest token at each position.
func encode(s string, tokens [256]string) []byte {
	var out []byte
	for len(s) > 0 {
		best, bestLen := -1, 0
		for b, tok := range tokens {
			if len(tok) > bestLen && strings.HasPrefix(s, tok) {
				best, bestLen = b, len(tok)
			}
		}
		out = append(out, byte(best))
		s = s[bestLen:]
	}
	return out
}
