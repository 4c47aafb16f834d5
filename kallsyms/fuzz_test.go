package kallsyms_test

import (
	"encoding/binary"
	"testing"

	"github.com/gokdump/gokdump/kallsyms"
	"github.com/gokdump/gokdump/kallsyms/kallsymstest"
)

// FuzzRead decodes damaged tables: the fuzzer changes the bytes of a valid image (the
// seeds come from kallsymstest) and the count of symbols. Read must fail cleanly or give
// a table whose lookups stay inside it.
func FuzzRead(f *testing.F) {
	for _, tab := range []kallsymstest.Tables{
		{Symbols: testSymbols(), AbsolutePercpu: true},
		{Symbols: testSymbols()[2:]},
		{Symbols: testSymbols()[2:], Absolute: true},
		{Symbols: testSymbols()[2:], PlaceRelative: true},
	} {
		img, lines, err := tab.Image(tablesAt)
		if err != nil {
			f.Fatal(err)
		}
		// The layout (which key is where) is passed as offsets so the fuzzer keeps it.
		f.Add(img, layoutOf(lines), "6.12.117+deb12-amd64")
	}
	f.Fuzz(func(t *testing.T, img, layout []byte, release string) {
		if len(img) > 256<<10 || len(layout) < 7*4 {
			return
		}
		in := &info{release: release, syms: map[string]uint64{"_stext": text}}
		for i, k := range layoutKeys {
			off := binary.LittleEndian.Uint32(layout[4*i:])
			if off != ^uint32(0) {
				in.syms[k] = tablesAt + uint64(off)
			}
		}
		tab, err := kallsyms.Read(&flatMemory{base: tablesAt, data: img}, in)
		if err != nil {
			return
		}
		if tab.Len() == 0 {
			t.Fatal("an empty table without an error")
		}
		for _, a := range []uint64{0, text, text + 0x211c, 1<<64 - 1} {
			if loc, ok := tab.Lookup(a); ok && (loc.Addr > a || loc.Offset != a-loc.Addr || loc.Size <= loc.Offset) {
				t.Fatalf("Lookup(0x%x) = %+v", a, loc)
			}
		}
	})
}

var layoutKeys = []string{"kallsyms_num_syms", "kallsyms_names", "kallsyms_token_table", "kallsyms_token_index",
	"kallsyms_offsets", "kallsyms_relative_base", "kallsyms_addresses"}

// layoutOf turns an image's VMCOREINFO lines into offsets from tablesAt, one u32 per
// key of layoutKeys, all ones for a key the image does not have.
func layoutOf(lines []string) []byte {
	in := &info{syms: map[string]uint64{}}
	for _, l := range lines {
		var name string
		var v uint64
		for i := 0; i < len(l); i++ {
			if l[i] == ')' {
				name = l[len("SYMBOL("):i]
				for _, c := range l[i+2:] {
					v = v<<4 | uint64(hexVal(c))
				}
				break
			}
		}
		in.syms[name] = v
	}
	var out []byte
	for _, k := range layoutKeys {
		off := ^uint32(0)
		if v, ok := in.syms[k]; ok {
			off = uint32(v - tablesAt)
		}
		out = binary.LittleEndian.AppendUint32(out, off)
	}
	return out
}

func hexVal(c rune) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return 0
}
