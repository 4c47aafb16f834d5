// Package kallsyms turns kernel addresses into symbol names without vmlinux or
// System.map: it decodes the symbol table the kernel carries in its own memory for
// /proc/kallsyms and for stack traces, found through the dump's VMCOREINFO.
//
// Since Linux 6.0 ("vmcoreinfo: include kallsyms symbols" and "vmcoreinfo: add
// kallsyms_num_syms symbol") VMCOREINFO gives the addresses of the tables:
//
//	kallsyms_num_syms        u32: number of symbols
//	kallsyms_names           per symbol: a token count (one byte; 6.1+ two bytes when
//	                         the first has bit 7 set), then that many token bytes
//	kallsyms_token_table     256 NUL-terminated strings, one after the other
//	kallsyms_token_index     256 u16: where each token starts in the token table
//	kallsyms_offsets         per symbol, s32, turned into an address (see Encoding)
//	kallsyms_relative_base   u64 base of the offsets, 4.6 to 6.19
//	kallsyms_addresses       instead of the two above when the kernel stored
//	                         absolute addresses (!CONFIG_KALLSYMS_BASE_RELATIVE,
//	                         never on x86_64; gone in 6.11)
//
// A name decodes to its type letter (the first character: t, T, d, ...) followed by
// the symbol name. How an offset becomes an address changed over time (see the
// Encoding constants); the kernel configuration is not in the dump, so Read computes
// the address of a symbol VMCOREINFO also names (_stext) every way that applies and
// keeps the one that agrees.
//
// Kernels before 6.0 do not name the tables: Read returns ErrNoTables. Symbols of
// loaded modules live in the modules' own tables, not here, so module addresses do
// not resolve.
//
// Usage:
//
//	f, _ := vmcore.Open("/var/crash/vmcore")
//	syms, err := kallsyms.ReadFile(f)
//	if loc, ok := syms.Lookup(rip); ok {
//		fmt.Println(loc) // "__crash_kexec+0x4e/0x120"
//	}
package kallsyms

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/vmcore"
)

// Memory is the crashed kernel's virtual memory; *kernel.Kernel implements it.
type Memory interface {
	ReadVirt(p []byte, vaddr uint64) (int, error)
}

// Info is the part of VMCOREINFO Read needs; *vmcore.VMCOREINFO implements it.
type Info interface {
	Symbol(name string) (uint64, bool) // SYMBOL(name), already relocated by KASLR
	OSRelease() (string, bool)
}

// ErrNoTables is returned (wrapped) when VMCOREINFO does not locate the tables.
var ErrNoTables = errors.New("kallsyms: VMCOREINFO does not locate the kallsyms tables (kernels before 6.0 do not export them)")

// FormatError reports kallsyms tables that do not hold together: a count, index or
// name the kernel could not have written, or memory the dump lacks.
type FormatError struct {
	Addr uint64 // kernel virtual address of the offending data; 0 when there is none
	Msg  string // what was found and what was expected
	Err  error  // the underlying read error, if any
}

func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("kallsyms: ")
	b.WriteString(e.Msg)
	if e.Addr != 0 {
		fmt.Fprintf(&b, " (at 0x%x)", e.Addr)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *FormatError) Unwrap() error { return e.Err }

// Limits that bound every walk over the tables. A 6.12 distribution kernel has about
// 200,000 symbols; KSYM_NAME_LEN is 512 since 6.1 (128 before).
const (
	maxSymbols   = 1 << 22
	maxNameLen   = 512
	tokenReadMax = 64 << 10 // token_index is u16: the table starts within 64 KiB
)

// Symbol is one entry of the kernel's symbol table.
type Symbol struct {
	Name string
	Type byte   // the letter /proc/kallsyms shows: 't', 'T', 'd', 'D', 'b', 'r', 'A', ...
	Addr uint64 // relocated (KASLR) address
}

// Location is an address resolved to a symbol, as the kernel prints it ("%pS").
type Location struct {
	Symbol
	Offset uint64 // address - Symbol.Addr
	Size   uint64 // distance to the next symbol at a higher address
}

// String formats the location as the kernel's stack traces do: "name+0xoff/0xsize".
func (l Location) String() string {
	return fmt.Sprintf("%s+0x%x/0x%x", l.Name, l.Offset, l.Size)
}

// Encoding is how the tables store addresses.
type Encoding string

const (
	// Absolute: kallsyms_addresses holds every address (before 6.11, on
	// architectures without CONFIG_KALLSYMS_BASE_RELATIVE).
	Absolute Encoding = "absolute"
	// BaseRelative: address = kallsyms_relative_base + (u32)offset (4.6 to 6.19).
	BaseRelative Encoding = "base-relative"
	// AbsolutePercpu: CONFIG_KALLSYMS_ABSOLUTE_PERCPU, x86_64 SMP kernels 4.6 to 6.14:
	// non-negative offsets are absolute addresses (per-CPU symbols near zero),
	// negative ones give kallsyms_relative_base - 1 - offset.
	AbsolutePercpu Encoding = "absolute-percpu"
	// PlaceRelative: address = &kallsyms_offsets[i] + offset, 7.0 and later
	// ("kallsyms: Get rid of kallsyms relative base"; no kallsyms_relative_base).
	PlaceRelative Encoding = "place-relative"
)

// Table is a kernel's decoded symbol table, sorted by address.
type Table struct {
	syms   []Symbol // by address; symbols at one address keep the kernel's order
	byName map[string]int
	// lo and hi bound the addresses Lookup resolves: the kernel image from _text to
	// the last symbol, as the kernel's own is_ksym_addr does, so that per-CPU offsets
	// (small absolute values) never name a direct-map or user address.
	lo, hi uint64
	// Encoding is the address rule the tables turned out to use.
	Encoding Encoding
}

// Len is the number of symbols.
func (t *Table) Len() int { return len(t.syms) }

// Symbols returns the symbols by address. The slice is the table's own: do not modify.
func (t *Table) Symbols() []Symbol { return t.syms }

// Address returns the address of the first symbol called name.
func (t *Table) Address(name string) (uint64, bool) {
	i, ok := t.byName[name]
	if !ok {
		return 0, false
	}
	return t.syms[i].Addr, true
}

// Lookup resolves addr to the symbol that contains it, as the kernel's kallsyms_lookup
// does: the last symbol at or below addr (the first of several at the same address),
// sized up to the next higher symbol. Addresses outside the kernel image, including
// those of module code, do not resolve.
func (t *Table) Lookup(addr uint64) (Location, bool) {
	if addr < t.lo || addr >= t.hi {
		return Location{}, false
	}
	// First symbol above addr; the one before it holds addr.
	i := sort.Search(len(t.syms), func(i int) bool { return t.syms[i].Addr > addr })
	if i == 0 || i == len(t.syms) {
		return Location{}, false
	}
	next := t.syms[i].Addr
	j := i - 1
	for j > 0 && t.syms[j-1].Addr == t.syms[j].Addr {
		j--
	}
	s := t.syms[j]
	return Location{Symbol: s, Offset: addr - s.Addr, Size: next - s.Addr}, true
}

// ReadFile reads the symbol table of a dump. Errors name the file.
func ReadFile(f *vmcore.File) (*Table, error) {
	k, err := kernel.Open(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	t, err := Read(k, k.Info)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return t, nil
}

// checkSymbols are VMCOREINFO symbols that every kernel with the kallsyms keys exports
// and that kallsyms holds, in the order Read prefers them to validate the address rule
// (_stext is a text symbol, present without CONFIG_KALLSYMS_ALL).
var checkSymbols = []string{"_stext", "init_uts_ns", "swapper_pg_dir", "init_top_pgt"}

// Read decodes the symbol table of the kernel whose memory is mem.
func Read(mem Memory, info Info) (*Table, error) {
	loc := map[string]uint64{}
	var missing []string
	for _, k := range []string{"kallsyms_num_syms", "kallsyms_names", "kallsyms_token_table", "kallsyms_token_index"} {
		v, ok := info.Symbol(k)
		if !ok {
			missing = append(missing, "SYMBOL("+k+")")
		}
		loc[k] = v
	}
	offsets, hasOffsets := info.Symbol("kallsyms_offsets")
	base, hasBase := info.Symbol("kallsyms_relative_base")
	absolute, hasAbsolute := info.Symbol("kallsyms_addresses")
	if !hasOffsets && !hasAbsolute {
		missing = append(missing, "SYMBOL(kallsyms_offsets) or SYMBOL(kallsyms_addresses)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: missing %s", ErrNoTables, strings.Join(missing, ", "))
	}
	r := &reader{mem: mem}

	var nb [4]byte
	if err := r.read(nb[:], loc["kallsyms_num_syms"], "kallsyms_num_syms"); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(nb[:])
	if n == 0 || n > maxSymbols {
		return nil, &FormatError{Addr: loc["kallsyms_num_syms"], Msg: fmt.Sprintf("kallsyms_num_syms is %d, want 1 to %d", n, maxSymbols)}
	}
	tokens, err := readTokens(r, loc["kallsyms_token_index"], loc["kallsyms_token_table"])
	if err != nil {
		return nil, err
	}

	// Decode the names with the length rule the release suggests first (two-byte
	// counts since 6.1), then the other: a wrong rule derails the walk and the
	// check symbol is not found.
	rules := []bool{true, false}
	if rel, ok := info.OSRelease(); ok && releaseBefore(rel, 6, 1) {
		rules = []bool{false, true}
	}
	check, checkName := uint64(0), ""
	for _, name := range checkSymbols {
		if v, ok := info.Symbol(name); ok {
			check, checkName = v, name
			break
		}
	}
	if checkName == "" {
		return nil, fmt.Errorf("%w: VMCOREINFO names none of %v to check the tables against", ErrNoTables, checkSymbols)
	}
	var names []string
	var types []byte
	checkIdx := -1
	var firstErr error
	for _, long := range rules {
		names, types, err = readNames(r, loc["kallsyms_names"], n, tokens, long)
		if err == nil {
			checkIdx = indexOf(names, checkName)
			if checkIdx >= 0 {
				break
			}
			err = &FormatError{Addr: loc["kallsyms_names"], Msg: fmt.Sprintf("the decoded names do not include %s", checkName)}
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if checkIdx < 0 {
		return nil, firstErr
	}

	t := &Table{syms: make([]Symbol, n)}
	if hasOffsets {
		var rel uint64
		if hasBase {
			var bb [8]byte
			if err := r.read(bb[:], base, "kallsyms_relative_base"); err != nil {
				return nil, err
			}
			rel = binary.LittleEndian.Uint64(bb[:])
		}
		offs, err := readU32s(r, offsets, int(n), "kallsyms_offsets")
		if err != nil {
			return nil, err
		}
		addr := func(enc Encoding, i int) uint64 {
			switch enc {
			case BaseRelative:
				return rel + uint64(offs[i])
			case AbsolutePercpu:
				return percpuAddress(rel, int32(offs[i]))
			default: // PlaceRelative
				return offsets + 4*uint64(i) + uint64(int64(int32(offs[i])))
			}
		}
		encs := []Encoding{PlaceRelative}
		if hasBase {
			encs = []Encoding{BaseRelative, AbsolutePercpu, PlaceRelative}
		}
		for _, enc := range encs {
			if addr(enc, checkIdx) == check {
				t.Encoding = enc
				break
			}
		}
		if t.Encoding == "" {
			return nil, &FormatError{Addr: offsets + 4*uint64(checkIdx),
				Msg: fmt.Sprintf("offset 0x%x of %s (kallsyms_relative_base 0x%x) gives no encoding's address 0x%x from VMCOREINFO",
					offs[checkIdx], checkName, rel, check)}
		}
		for i := range offs {
			t.syms[i] = Symbol{Name: names[i], Type: types[i], Addr: addr(t.Encoding, i)}
		}
	} else {
		addrs, err := readU64s(r, absolute, int(n), "kallsyms_addresses")
		if err != nil {
			return nil, err
		}
		if addrs[checkIdx] != check {
			return nil, &FormatError{Addr: absolute + 8*uint64(checkIdx),
				Msg: fmt.Sprintf("kallsyms_addresses gives %s at 0x%x, VMCOREINFO 0x%x", checkName, addrs[checkIdx], check)}
		}
		t.Encoding = Absolute
		for i, a := range addrs {
			t.syms[i] = Symbol{Name: names[i], Type: types[i], Addr: a}
		}
	}
	t.index()
	return t, nil
}

// percpuAddress is the AbsolutePercpu rule: non-negative values are absolute,
// negative ones count down from relative_base - 1.
func percpuAddress(base uint64, v int32) uint64 {
	if v >= 0 {
		return uint64(v)
	}
	return base - 1 - uint64(int64(v))
}

// index sorts the symbols by address (stable: aliases keep the kernel's order, which
// the kernel's own lookups prefer) and sets the name index and lookup bounds.
func (t *Table) index() {
	sort.SliceStable(t.syms, func(i, j int) bool { return t.syms[i].Addr < t.syms[j].Addr })
	t.byName = make(map[string]int, len(t.syms))
	for i, s := range t.syms {
		if _, dup := t.byName[s.Name]; !dup {
			t.byName[s.Name] = i
		}
	}
	t.lo, t.hi = 0, 0
	for _, name := range []string{"_text", "_stext"} {
		if a, ok := t.Address(name); ok {
			t.lo = a
			break
		}
	}
	if t.lo == 0 {
		// No image start symbol: the first symbol in the kernel half.
		i := sort.Search(len(t.syms), func(i int) bool { return t.syms[i].Addr >= 1<<63 })
		if i < len(t.syms) {
			t.lo = t.syms[i].Addr
		}
	}
	if len(t.syms) > 0 {
		t.hi = t.syms[len(t.syms)-1].Addr
	}
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// releaseBefore reports whether a kernel release string ("6.1.0-56-amd64") is older
// than major.minor. An unparsable release is not older.
func releaseBefore(rel string, major, minor int) bool {
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi := parts[1]
	for k, c := range mi {
		if c < '0' || c > '9' {
			mi = mi[:k]
			break
		}
	}
	mn, err2 := strconv.Atoi(mi)
	if err1 != nil || err2 != nil {
		return false
	}
	return ma < major || ma == major && mn < minor
}

// readTokens reads the 256 tokens of the name compression table.
func readTokens(r *reader, indexAddr, tableAddr uint64) ([256]string, error) {
	var tokens [256]string
	var ib [512]byte
	if err := r.read(ib[:], indexAddr, "kallsyms_token_index"); err != nil {
		return tokens, err
	}
	var idx [256]int
	maxIdx := 0
	for i := range idx {
		idx[i] = int(binary.LittleEndian.Uint16(ib[2*i:]))
		maxIdx = max(maxIdx, idx[i])
	}
	// The last token starts at maxIdx and is shorter than a symbol name.
	buf := make([]byte, min(maxIdx+maxNameLen+1, tokenReadMax+maxNameLen+1))
	n, err := r.readUpTo(buf, tableAddr)
	if n <= maxIdx {
		return tokens, &FormatError{Addr: tableAddr + uint64(n), Msg: fmt.Sprintf("kallsyms_token_table: read %d bytes, token_index points to %d", n, maxIdx), Err: err}
	}
	buf = buf[:n]
	for i, at := range idx {
		end := strings.IndexByte(string(buf[at:]), 0)
		if end < 0 {
			return tokens, &FormatError{Addr: tableAddr + uint64(at), Msg: fmt.Sprintf("kallsyms_token_table: token %d at index %d has no NUL terminator within %d bytes", i, at, len(buf)-at)}
		}
		tokens[i] = string(buf[at : at+end])
	}
	return tokens, nil
}

// readNames decodes n compressed names. long selects the 6.1+ rule for token counts
// of 128 and more (two bytes, low 7 bits first).
func readNames(r *reader, addr uint64, n uint32, tokens [256]string, long bool) ([]string, []byte, error) {
	s := &stream{r: r, addr: addr, what: "kallsyms_names"}
	// Grown as names decode, not sized by the count read from the dump: a damaged
	// count fails at the first bad name without a large allocation.
	names := make([]string, 0, min(n, 1<<16))
	types := make([]byte, 0, min(n, 1<<16))
	var name []byte
	for i := range int(n) {
		at := s.addr
		c, err := s.byte()
		if err != nil {
			return nil, nil, err
		}
		count := int(c)
		if long && c&0x80 != 0 {
			c2, err := s.byte()
			if err != nil {
				return nil, nil, err
			}
			count = int(c&0x7f) | int(c2)<<7
		}
		if count == 0 || count > maxNameLen {
			return nil, nil, &FormatError{Addr: at, Msg: fmt.Sprintf("kallsyms_names: symbol %d has %d tokens, want 1 to %d", i, count, maxNameLen)}
		}
		name = name[:0]
		for range count {
			tb, err := s.byte()
			if err != nil {
				return nil, nil, err
			}
			name = append(name, tokens[tb]...)
			if len(name) > maxNameLen+1 {
				return nil, nil, &FormatError{Addr: at, Msg: fmt.Sprintf("kallsyms_names: symbol %d decodes to more than %d bytes", i, maxNameLen)}
			}
		}
		if len(name) < 2 {
			return nil, nil, &FormatError{Addr: at, Msg: fmt.Sprintf("kallsyms_names: symbol %d decodes to %q, want a type letter and a name", i, name)}
		}
		types = append(types, name[0])
		names = append(names, string(name[1:]))
	}
	return names, types, nil
}

func readU32s(r *reader, addr uint64, n int, what string) ([]uint32, error) {
	out := make([]uint32, n)
	buf := make([]byte, 4*min(n, chunkSize/4))
	for i := 0; i < n; {
		k := min(n-i, len(buf)/4)
		if err := r.read(buf[:4*k], addr+4*uint64(i), what); err != nil {
			return nil, err
		}
		for j := range k {
			out[i+j] = binary.LittleEndian.Uint32(buf[4*j:])
		}
		i += k
	}
	return out, nil
}

func readU64s(r *reader, addr uint64, n int, what string) ([]uint64, error) {
	out := make([]uint64, n)
	buf := make([]byte, 8*min(n, chunkSize/8))
	for i := 0; i < n; {
		k := min(n-i, len(buf)/8)
		if err := r.read(buf[:8*k], addr+8*uint64(i), what); err != nil {
			return nil, err
		}
		for j := range k {
			out[i+j] = binary.LittleEndian.Uint64(buf[8*j:])
		}
		i += k
	}
	return out, nil
}
