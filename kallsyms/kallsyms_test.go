package kallsyms_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/kallsyms"
	"github.com/gokdump/gokdump/kallsyms/kallsymstest"
)

// flatMemory is kernel memory holding one block of bytes at base.
type flatMemory struct {
	base uint64
	data []byte
	// holeFrom, when set, makes 8 bytes from there unreadable, as memory missing
	// from the dump.
	holeFrom uint64
}

func (m *flatMemory) ReadVirt(p []byte, vaddr uint64) (int, error) {
	if vaddr < m.base || vaddr-m.base >= uint64(len(m.data)) {
		return 0, fmt.Errorf("no memory at 0x%x", vaddr)
	}
	end := uint64(len(m.data))
	if m.holeFrom > vaddr {
		end = min(end, m.holeFrom-m.base)
	} else if m.holeFrom != 0 && vaddr < m.holeFrom+8 {
		end = vaddr - m.base
	}
	n := copy(p, m.data[vaddr-m.base:end])
	if n < len(p) {
		return n, fmt.Errorf("no memory at 0x%x", vaddr+uint64(n))
	}
	return n, nil
}

// info is a VMCOREINFO with SYMBOL() lines and OSRELEASE.
type info struct {
	release string
	syms    map[string]uint64
}

func (i *info) Symbol(name string) (uint64, bool) { v, ok := i.syms[name]; return v, ok }
func (i *info) OSRelease() (string, bool)         { return i.release, i.release != "" }

const (
	tablesAt = 0xffffffff82400000
	text     = 0xffffffff81000000
)

// testSymbols is a small kernel: per-CPU symbols at low absolute addresses, text with
// aliases, data, and a name long enough to need a two-byte token count.
func testSymbols() []kallsyms.Symbol {
	long := "very_long_symbol_name_" + strings.Repeat("qzxj", 60)
	return []kallsyms.Symbol{
		{Name: "fixed_percpu_data", Type: 'A', Addr: 0},
		{Name: "cpu_debug_store", Type: 'A', Addr: 0x1000},
		{Name: "_text", Type: 'T', Addr: text},
		{Name: "_stext", Type: 'T', Addr: text},
		{Name: "startup_64", Type: 'T', Addr: text},
		{Name: "native_safe_halt", Type: 't', Addr: text + 0x1000},
		{Name: "__pfx___crash_kexec", Type: 't', Addr: text + 0x1ff0},
		{Name: "__crash_kexec", Type: 'T', Addr: text + 0x2000},
		{Name: "sysrq_handle_crash", Type: 't', Addr: text + 0x2130},
		{Name: long, Type: 't', Addr: text + 0x2150},
		{Name: "panic", Type: 'T', Addr: text + 0x3000},
		{Name: "_etext", Type: 'T', Addr: text + 0x4000},
		{Name: "init_uts_ns", Type: 'D', Addr: text + 0x10000},
		{Name: "_end", Type: 'B', Addr: text + 0x20000},
	}
}

func build(t *testing.T, tab kallsymstest.Tables) (*flatMemory, *info) {
	t.Helper()
	img, lines, err := tab.Image(tablesAt)
	if err != nil {
		t.Fatal(err)
	}
	in := &info{release: "6.12.117+deb12-amd64", syms: map[string]uint64{"_stext": text}}
	for _, l := range lines {
		var name string
		var v uint64
		l = strings.NewReplacer("SYMBOL(", "", ")=", " ").Replace(l)
		if _, err := fmt.Sscanf(l, "%s %x", &name, &v); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		in.syms[name] = v
	}
	return &flatMemory{base: tablesAt, data: img}, in
}

func TestReadRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		tab  kallsymstest.Tables
		enc  kallsyms.Encoding
	}{
		{"absolute percpu", kallsymstest.Tables{AbsolutePercpu: true}, kallsyms.AbsolutePercpu},
		{"relative", kallsymstest.Tables{}, kallsyms.BaseRelative},
		{"absolute addresses", kallsymstest.Tables{Absolute: true}, kallsyms.Absolute},
		{"place relative", kallsymstest.Tables{PlaceRelative: true}, kallsyms.PlaceRelative},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.tab.Symbols = testSymbols()
			if !tc.tab.AbsolutePercpu {
				// Without the per-CPU rule, per-CPU symbols are relocated like the rest.
				tc.tab.Symbols = tc.tab.Symbols[2:]
			}
			mem, in := build(t, tc.tab)
			tab, err := kallsyms.Read(mem, in)
			if err != nil {
				t.Fatal(err)
			}
			if tab.Len() != len(tc.tab.Symbols) || tab.Encoding != tc.enc {
				t.Errorf("%d symbols, encoding %q; want %d, %q", tab.Len(), tab.Encoding, len(tc.tab.Symbols), tc.enc)
			}
			for i, want := range tc.tab.Symbols {
				if got := tab.Symbols()[i]; got != want {
					t.Errorf("symbol %d: %+v, want %+v", i, got, want)
				}
			}
			checkLookups(t, tab)
		})
	}
}

func checkLookups(t *testing.T, tab *kallsyms.Table) {
	t.Helper()
	for _, tc := range []struct {
		addr uint64
		want string // "" : does not resolve
	}{
		{text, "_text+0x0/0x1000"}, // the first of three aliases, sized to the next address
		{text + 0xfff, "_text+0xfff/0x1000"},
		{text + 0x100b, "native_safe_halt+0xb/0xff0"},
		{text + 0x211c, "__crash_kexec+0x11c/0x130"},
		{text + 0x2130, "sysrq_handle_crash+0x0/0x20"},
		{text + 0x3fff, "panic+0xfff/0x1000"},
		{text + 0x10008, "init_uts_ns+0x8/0x10000"},
		{0x1000, ""},             // a per-CPU offset is not a code address
		{0x40a8ae, ""},           // user space
		{0xff11000012345678, ""}, // the direct map, below the image
		{text - 1, ""},           // just below _text
		{text + 0x20000, ""},     // _end: nothing above it to size it
		{0xffffffffc0123456, ""}, // module space
	} {
		loc, ok := tab.Lookup(tc.addr)
		got := ""
		if ok {
			got = loc.String()
		}
		if got != tc.want {
			t.Errorf("Lookup(0x%x) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	if a, ok := tab.Address("panic"); !ok || a != text+0x3000 {
		t.Errorf("Address(panic) = 0x%x, %v", a, ok)
	}
	if _, ok := tab.Address("no_such_symbol"); ok {
		t.Errorf("Address(no_such_symbol) resolved")
	}
}

// Before 6.1 a token count is one byte; a 6.0 kernel's tables decode with that rule
// even when a count byte has bit 7 set.
func TestShortCounts(t *testing.T) {
	syms := testSymbols()
	syms[9].Name = "x" + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz", 3)[:100] // 101 tokens at most: fits
	mem, in := build(t, kallsymstest.Tables{Symbols: syms, AbsolutePercpu: true, ShortCounts: true})
	in.release = "6.0.19"
	tab, err := kallsyms.Read(mem, in)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := tab.Address(syms[9].Name); !ok || got != syms[9].Addr {
		t.Errorf("long-ish name at 0x%x, %v", got, ok)
	}
	// A two-byte count read by a reader that expects the release's one-byte rule:
	// the first rule derails, the other is tried.
	mem, in = build(t, kallsymstest.Tables{Symbols: testSymbols(), AbsolutePercpu: true})
	in.release = "6.0.19"
	if _, err := kallsyms.Read(mem, in); err != nil {
		t.Errorf("6.0 release with two-byte counts: %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	good := kallsymstest.Tables{Symbols: testSymbols(), AbsolutePercpu: true}
	for _, tc := range []struct {
		name    string
		damage  func(mem *flatMemory, in *info)
		wantErr string
		noTable bool
	}{
		{name: "no keys", damage: func(m *flatMemory, in *info) { delete(in.syms, "kallsyms_names") },
			wantErr: "missing SYMBOL(kallsyms_names)", noTable: true},
		{name: "no address keys", damage: func(m *flatMemory, in *info) { delete(in.syms, "kallsyms_offsets") },
			wantErr: "SYMBOL(kallsyms_offsets)", noTable: true},
		// Without the base only place-relative offsets are tried, and they do not fit.
		{name: "no relative base", damage: func(m *flatMemory, in *info) { delete(in.syms, "kallsyms_relative_base") },
			wantErr: "gives no encoding's address"},
		{name: "no check symbol", damage: func(m *flatMemory, in *info) { delete(in.syms, "_stext") },
			wantErr: "names none of", noTable: true},
		{name: "zero symbols", damage: func(m *flatMemory, in *info) { put32(m, in.syms["kallsyms_num_syms"], 0) },
			wantErr: "kallsyms_num_syms is 0"},
		{name: "too many symbols", damage: func(m *flatMemory, in *info) { put32(m, in.syms["kallsyms_num_syms"], 1<<30) },
			wantErr: "kallsyms_num_syms is 1073741824"},
		{name: "more symbols than names", damage: func(m *flatMemory, in *info) { put32(m, in.syms["kallsyms_num_syms"], 1000) },
			wantErr: "kallsyms_names"},
		{name: "token index past the table", damage: func(m *flatMemory, in *info) {
			at := in.syms["kallsyms_token_index"] - m.base
			m.data[at], m.data[at+1] = 0xff, 0xff
		}, wantErr: "kallsyms_token_table"},
		{name: "stext moved", damage: func(m *flatMemory, in *info) { in.syms["_stext"] += 0x200000 },
			wantErr: "gives no encoding's address"},
		{name: "unreadable base", damage: func(m *flatMemory, in *info) { in.syms["kallsyms_relative_base"] = 0x1000 },
			wantErr: "cannot read kallsyms_relative_base"},
		{name: "zero-token name", damage: func(m *flatMemory, in *info) { m.data[in.syms["kallsyms_names"]-m.base] = 0 },
			wantErr: "symbol 0 has 0 tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, in := build(t, good)
			tc.damage(mem, in)
			tab, err := kallsyms.Read(mem, in)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q (table %v)", err, tc.wantErr, tab != nil)
			}
			if errors.Is(err, kallsyms.ErrNoTables) != tc.noTable {
				t.Errorf("errors.Is(ErrNoTables) = %v, want %v: %v", !tc.noTable, tc.noTable, err)
			}
			var fe *kallsyms.FormatError
			if !tc.noTable && !errors.As(err, &fe) {
				t.Errorf("%v is not a *FormatError", err)
			}
		})
	}
}

// A table cut short by the end of the dump's memory names the address it stopped at.
func TestTruncated(t *testing.T) {
	mem, in := build(t, kallsymstest.Tables{Symbols: testSymbols(), AbsolutePercpu: true})
	mem.holeFrom = in.syms["kallsyms_names"] + 20
	_, err := kallsyms.Read(mem, in)
	var fe *kallsyms.FormatError
	if !errors.As(err, &fe) || fe.Addr != mem.holeFrom || !strings.Contains(err.Error(), "cannot read kallsyms_names") {
		t.Fatalf("err = %v, want a *FormatError at 0x%x", err, mem.holeFrom)
	}
}

func put32(m *flatMemory, addr uint64, v uint32) {
	at := addr - m.base
	m.data[at], m.data[at+1], m.data[at+2], m.data[at+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func TestReleaseOrder(t *testing.T) {
	// The release only orders the attempts; an unparsable one must not fail the read.
	mem, in := build(t, kallsymstest.Tables{Symbols: testSymbols(), AbsolutePercpu: true})
	for _, rel := range []string{"", "garbage", "6", "6.x", "5.19.0", "7.0.0-rc1"} {
		in.release = rel
		if _, err := kallsyms.Read(mem, in); err != nil {
			t.Errorf("release %q: %v", rel, err)
		}
	}
}
