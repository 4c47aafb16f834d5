package kernel

import (
	"testing"

	"github.com/gokdump/gokdump/format/kdump"
	"github.com/gokdump/gokdump/vmcore"
)

// A kdump-compressed file has no kernel-text PT_LOAD to derive phys_base from, so an old
// kernel's (no NUMBER(phys_base)) comes from the sub header; VMCOREINFO's wins.
func TestX86SymbolsPhysBase(t *testing.T) {
	without, err := vmcore.ParseVMCOREINFO([]byte("OSRELEASE=4.9.0\nNUMBER(sme_mask)=0\n"))
	if err != nil {
		t.Fatal(err)
	}
	with, err := vmcore.ParseVMCOREINFO([]byte("OSRELEASE=4.19.0\nNUMBER(phys_base)=-1541406720\n"))
	if err != nil {
		t.Fatal(err)
	}
	kd := &vmcore.File{Kdump: &vmcore.KdumpInfo{SubHeader: kdump.SubHeader{PhysBase: 0x3e00000}}}
	elf := &vmcore.File{}
	for _, tc := range []struct {
		name string
		f    *vmcore.File
		info *vmcore.VMCOREINFO
		want int64
		ok   bool
	}{
		{"kdump, old kernel", kd, without, 0x3e00000, true},
		{"kdump, NUMBER(phys_base)", kd, with, -1541406720, true},
		{"ELF, old kernel", elf, without, 0, false},
	} {
		v, ok := x86Symbols(tc.f, tc.info).Number("phys_base")
		if v != tc.want || ok != tc.ok {
			t.Errorf("%s: phys_base %d %v, want %d %v", tc.name, v, ok, tc.want, tc.ok)
		}
		if v, ok := x86Symbols(tc.f, tc.info).Number("sme_mask"); ok != (tc.info == without) || v != 0 {
			t.Errorf("%s: sme_mask %d %v", tc.name, v, ok)
		}
	}
}
