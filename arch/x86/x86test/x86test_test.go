package x86test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/arch/x86"
)

func TestMemory(t *testing.T) {
	m := &Memory{}
	if err := m.Add(0x2000, []byte("efgh")); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(0x1ffc, []byte("abcd")); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(0x2002, []byte("x")); err == nil {
		t.Error("overlapping region accepted")
	}
	if err := m.Add(^uint64(0), []byte("xy")); err == nil {
		t.Error("wrapping region accepted")
	}
	buf := make([]byte, 8)
	if n, err := m.ReadPhys(buf, 0x1ffc); err != nil || n != 8 || string(buf) != "abcdefgh" {
		t.Errorf("read across adjacent regions = %d, %q, %v", n, buf, err)
	}
	n, err := m.ReadPhys(buf, 0x2001)
	if n != 3 || !errors.Is(err, ErrHole) || !strings.Contains(err.Error(), "0x2004") {
		t.Errorf("read into a hole = %d, %v; want 3 bytes and a hole at 0x2004", n, err)
	}
	if n, err := m.ReadPhys(buf, 0x1000); n != 0 || !errors.Is(err, ErrHole) {
		t.Errorf("read of a hole = %d, %v", n, err)
	}
}

func TestBuilderRejects(t *testing.T) {
	if _, err := NewPageTableBuilder(3, 0, 0x1000); err == nil {
		t.Error("3 levels accepted")
	}
	if _, err := NewPageTableBuilder(4, 0x800, 0x2000); err == nil {
		t.Error("unaligned region accepted")
	}
	b, err := NewPageTableBuilder(4, 0x10000, 0x13000) // room for the root and two more tables
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Map(0xffff888000000000, 0, x86.PageSize1G, x86.PageSize1G); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                         string
		vaddr, paddr, size, pageSize uint64
		want                         string
	}{
		{"odd page size", 0xffff888000000000, 0, 0x8000, 0x8000, "page size"},
		{"unaligned", 0xffff888040001000, 0, x86.PageSize2M, x86.PageSize2M, "not aligned"},
		{"already mapped", 0xffff888000000000, 0, x86.PageSize1G, x86.PageSize1G, "already mapped"},
		{"under a large page", 0xffff888000200000, 0, x86.PageSize2M, x86.PageSize2M, "large page"},
		{"beyond 52 bits", 0xffff888040000000, 1 << 52, x86.PageSize1G, x86.PageSize1G, "52 bits"},
		{"region full", 0xffffc90000000000, 0, x86.PageSize, x86.PageSize, "full"},
	}
	for _, tt := range tests {
		if err := b.Map(tt.vaddr, tt.paddr, tt.size, tt.pageSize); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error about %q", tt.name, err, tt.want)
		}
	}
	if _, err := b.EntryAddr(0xffff888000000000, x86.LevelPMD); err == nil {
		t.Error("EntryAddr below a 1 GiB page succeeded")
	}
	if err := b.SetEntry(0x20000, 1); err == nil {
		t.Error("SetEntry outside the tables succeeded")
	}
	if got := len(b.Bytes()); uint64(got) != b.End()-b.Base() || got != 3*int(x86.PageSize) {
		t.Errorf("Bytes() has %d bytes for tables 0x%x..0x%x", got, b.Base(), b.End())
	}
}

func TestNewKernelRejects(t *testing.T) {
	for _, cfg := range []KernelConfig{
		{Levels: 4, RAMSize: 64 << 20, ImagePhys: 0x1001000, ImageSize: 4 << 20},
		{Levels: 4, RAMSize: 16 << 20, ImagePhys: 0x1000000, ImageSize: 4 << 20},
		{Levels: 4, RAMSize: 64 << 20, ImagePhys: 0x1000000, ImageSize: 4 << 20, KASLROffset: 1 << 30},
		{Levels: 6, RAMSize: 64 << 20, ImagePhys: 0x1000000, ImageSize: 4 << 20},
	} {
		if _, err := NewKernel(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
