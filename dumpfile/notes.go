package dumpfile

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/gokdump/gokdump/format/elfcore"
)

// EncodeNote encodes one ELF note the way the kernel writes them in ELF64
// cores: a 12-byte header (namesz, descsz, type), the NUL-terminated name
// and the descriptor, each padded to 4 bytes.
func EncodeNote(name string, typ uint32, desc []byte) []byte {
	return AppendNote(nil, 4, name, typ, desc)
}

// AppendNote appends a note with the given alignment (4, or 8 for the gABI
// form a reader expects when the PT_NOTE's p_align is 8) to dst. dst is
// first padded to the alignment so the note header starts aligned.
func AppendNote(dst []byte, align int, name string, typ uint32, desc []byte) []byte {
	if align != 8 {
		align = 4
	}
	pad := func(b []byte) []byte {
		for len(b)%align != 0 {
			b = append(b, 0)
		}
		return b
	}
	dst = pad(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(name)+1))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(desc)))
	dst = binary.LittleEndian.AppendUint32(dst, typ)
	dst = append(dst, name...)
	dst = append(dst, 0)
	dst = pad(dst)
	dst = append(dst, desc...)
	return pad(dst)
}

// PRStatusNote encodes an x86_64 NT_PRSTATUS note ("CORE", type 1), one of
// which the kernel writes per CPU.
func PRStatusNote(s *elfcore.PRStatus) []byte {
	desc, _ := s.MarshalBinary() // cannot fail: fixed-size encoding
	return EncodeNote(elfcore.NoteNameCore, elfcore.NoteTypePRStatus, desc)
}

// VMCOREINFONote encodes a VMCOREINFO note (name "VMCOREINFO", type 0)
// holding text verbatim, as copied from a crashed kernel or built with
// VMCOREINFOText.
func VMCOREINFONote(text []byte) []byte {
	return EncodeNote(elfcore.NoteNameVMCOREINFO, elfcore.NoteTypeVMCOREINFO, text)
}

// VMCOREINFOText builds VMCOREINFO text in the kernel's formats (see
// vmcore.VMCOREINFO), one KEY=value line per call, for synthetic dumps.
// The zero value is empty and ready to use.
type VMCOREINFOText struct {
	b strings.Builder
}

// Set adds a plain line KEY=value, e.g. Set("OSRELEASE", "6.1.0-56-amd64").
func (t *VMCOREINFOText) Set(key, value string) {
	t.b.WriteString(key)
	t.b.WriteByte('=')
	t.b.WriteString(value)
	t.b.WriteByte('\n')
}

// Symbol adds SYMBOL(name)=<hex address>.
func (t *VMCOREINFOText) Symbol(name string, addr uint64) {
	t.Set("SYMBOL("+name+")", strconv.FormatUint(addr, 16))
}

// Size adds SIZE(name)=<decimal>.
func (t *VMCOREINFOText) Size(name string, n uint64) {
	t.Set("SIZE("+name+")", strconv.FormatUint(n, 10))
}

// Offset adds OFFSET(name)=<decimal>.
func (t *VMCOREINFOText) Offset(name string, n uint64) {
	t.Set("OFFSET("+name+")", strconv.FormatUint(n, 10))
}

// Length adds LENGTH(name)=<decimal>.
func (t *VMCOREINFOText) Length(name string, n uint64) {
	t.Set("LENGTH("+name+")", strconv.FormatUint(n, 10))
}

// Number adds NUMBER(name)=<signed decimal>.
func (t *VMCOREINFOText) Number(name string, n int64) {
	t.Set("NUMBER("+name+")", strconv.FormatInt(n, 10))
}

// Standard adds the plain keys every x86_64 kernel writes: OSRELEASE,
// PAGESIZE, CRASHTIME (seconds since the epoch) and KERNELOFFSET (hex).
func (t *VMCOREINFOText) Standard(release string, pageSize uint64, crashTime int64, kernelOffset uint64) {
	t.Set("OSRELEASE", release)
	t.Set("PAGESIZE", strconv.FormatUint(pageSize, 10))
	t.Set("CRASHTIME", strconv.FormatInt(crashTime, 10))
	t.Set("KERNELOFFSET", strconv.FormatUint(kernelOffset, 16))
}

// Bytes returns the text built so far.
func (t *VMCOREINFOText) Bytes() []byte { return []byte(t.b.String()) }

// String returns the text built so far.
func (t *VMCOREINFOText) String() string { return t.b.String() }
