package x86_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/arch/x86"
	"github.com/gokdump/gokdump/arch/x86/x86test"
)

const ramSize = 64 << 20

// crashedKernel builds a synthetic kernel with a uts release string in its
// data at a text address, and returns it with its RAM.
func crashedKernel(t *testing.T, cfg x86test.KernelConfig) (*x86test.Kernel, *x86test.Memory, uint64) {
	t.Helper()
	k, err := x86test.NewKernel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ram := make([]byte, cfg.RAMSize)
	if err := k.Place(ram); err != nil {
		t.Fatal(err)
	}
	// "init_uts_ns" 0x123456 bytes into the image.
	const off = 0x123456
	copy(ram[cfg.ImagePhys+off:], "6.1.0-56-amd64\x00")
	mem := &x86test.Memory{}
	if err := mem.Add(0, ram); err != nil {
		t.Fatal(err)
	}
	return k, mem, k.TextVirt + off
}

var layouts = []struct {
	name string
	cfg  x86test.KernelConfig
}{
	{"4-level nokaslr", x86test.KernelConfig{Levels: 4, RAMSize: ramSize, ImagePhys: 0x1000000, ImageSize: 0x800000}},
	{"5-level kaslr", x86test.KernelConfig{Levels: 5, RAMSize: ramSize, ImagePhys: 0x2a00000, ImageSize: 0x800000,
		KASLROffset: 0x1c600000, DirectMapBase: 0xff4a5c0000000000}},
	{"4-level kaslr", x86test.KernelConfig{Levels: 4, RAMSize: ramSize, ImagePhys: 0x3000000, ImageSize: 0x400000,
		KASLROffset: 0x20c00000, DirectMapBase: 0xffff9f3c40000000}},
	{"4-level sme", x86test.KernelConfig{Levels: 4, RAMSize: ramSize, ImagePhys: 0x1000000, ImageSize: 0x400000,
		SMEMask: 1 << 47}},
}

func TestNewKernelSpace(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			k, mem, release := crashedKernel(t, l.cfg)
			as, err := x86.NewKernelSpace(mem, k.VMCOREINFO(), k.Loads())
			if err != nil {
				t.Fatal(err)
			}
			checkSpace(t, as, k)
			if l.cfg.KASLROffset != 0 && as.PhysBase != l.cfg.ImagePhys-0x1000000-l.cfg.KASLROffset {
				t.Errorf("PhysBase = 0x%x does not wrap as the kernel's does", as.PhysBase)
			}
			checkRead(t, as, release, "6.1.0-56-amd64")
			// The same string through the direct map.
			checkRead(t, as, k.DirectMapBase+l.cfg.ImagePhys+0x123456, "6.1.0-56-amd64")
		})
	}
}

func checkSpace(t *testing.T, as *x86.AddressSpace, k *x86test.Kernel) {
	t.Helper()
	type fields struct{ Root, Levels, SMEMask, PhysBase, DirectMapBase uint64 }
	want := fields{k.Tables.Root(), uint64(k.Levels), k.SMEMask, k.PhysBase, k.DirectMapBase}
	got := fields{as.Root, uint64(as.Levels), as.SMEMask, as.PhysBase, as.DirectMapBase}
	if got != want {
		t.Errorf("got  %#x\nwant %#x", got, want)
	}
}

func checkRead(t *testing.T, as *x86.AddressSpace, vaddr uint64, want string) {
	t.Helper()
	buf := make([]byte, len(want))
	if n, err := as.ReadVirt(buf, vaddr); err != nil || string(buf[:n]) != want {
		t.Errorf("ReadVirt(0x%x) = %q, %v; want %q", vaddr, buf[:n], err, want)
	}
	// The walk must agree with the shortcut that ReadVirt took.
	viaWalk, _, err := as.Walk(vaddr)
	viaShortcut, _, err2 := as.Translate(vaddr)
	if err != nil || err2 != nil || viaWalk != viaShortcut {
		t.Errorf("Walk(0x%x) = 0x%x, %v; Translate = 0x%x, %v", vaddr, viaWalk, err, viaShortcut, err2)
	}
}

// Older kernels (before 4.10 for phys_base, 4.13 for init_top_pgt, 4.17 for
// pgtable_l5_enabled) lack some keys; the fallbacks must find the same space.
func TestNewKernelSpaceFallbacks(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			k, mem, release := crashedKernel(t, l.cfg)

			info := k.VMCOREINFO()
			delete(info.Numbers, "phys_base")
			as, err := x86.NewKernelSpace(mem, info, k.Loads())
			if err != nil {
				t.Fatalf("phys_base from the text PT_LOAD: %v", err)
			}
			checkSpace(t, as, k)
			checkRead(t, as, release, "6.1.0-56-amd64")

			info = k.VMCOREINFO()
			info.Symbols["init_level4_pgt"] = info.Symbols["init_top_pgt"]
			delete(info.Symbols, "init_top_pgt")
			delete(info.Numbers, "KERNEL_IMAGE_SIZE")
			if as, err = x86.NewKernelSpace(mem, info, k.Loads()); err != nil {
				t.Fatalf("init_level4_pgt: %v", err)
			}
			checkSpace(t, as, k)
			checkRead(t, as, release, "6.1.0-56-amd64")

			// Loads that do not say where RAM is mapped (a kdump-compressed dump):
			// the base, randomised or not, is found in the page tables.
			loads := k.Loads()
			loads[1].Virt = 0
			if as, err = x86.NewKernelSpace(mem, k.VMCOREINFO(), loads); err != nil {
				t.Fatal(err)
			}
			if as.DirectMapBase != k.DirectMapBase {
				t.Errorf("DirectMapBase without direct-map loads = 0x%x, want 0x%x from the page tables", as.DirectMapBase, k.DirectMapBase)
			}
			checkRead(t, as, release, "6.1.0-56-amd64")
			checkRead(t, as, k.DirectMapBase+l.cfg.ImagePhys+0x123456, "6.1.0-56-amd64")

			// Nothing maps physical 0 in the kernel half: the default base.
			mem0 := &x86test.Memory{}
			ram := make([]byte, l.cfg.RAMSize)
			if err := k.Place(ram); err != nil {
				t.Fatal(err)
			}
			if err := mem0.Add(0, ram); err != nil {
				t.Fatal(err)
			}
			// The whole 64 MiB of RAM is under the direct map's first PUD entry.
			entry, err := k.Tables.EntryAddr(k.DirectMapBase, x86.LevelPUD)
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Tables.SetEntry(entry, 0); err != nil {
				t.Fatal(err)
			}
			if err := k.Place(ram); err != nil {
				t.Fatal(err)
			}
			if as, err = x86.NewKernelSpace(mem0, k.VMCOREINFO(), loads); err != nil {
				t.Fatal(err)
			}
			if want := map[int]uint64{4: x86.DirectMapBase4, 5: x86.DirectMapBase5}[l.cfg.Levels]; as.DirectMapBase != want {
				t.Errorf("DirectMapBase with physical 0 unmapped = 0x%x, want the default 0x%x", as.DirectMapBase, want)
			}

			// Without pgtable_l5_enabled the kernel is taken as 4-level: a
			// 5-level dump then fails the self-check instead of reading garbage.
			info = k.VMCOREINFO()
			delete(info.Numbers, "pgtable_l5_enabled")
			as, err = x86.NewKernelSpace(mem, info, k.Loads())
			if l.cfg.Levels == 4 && err != nil {
				t.Errorf("4-level without pgtable_l5_enabled: %v", err)
			}
			if l.cfg.Levels == 5 && err == nil {
				t.Errorf("5-level dump taken as 4-level without an error (Root 0x%x)", as.Root)
			}
		})
	}
}

// Levels: NUMBER(pgtable_l5_enabled) decides, and a wrong value is caught by
// the self-check.
func TestNewKernelSpaceLevels(t *testing.T) {
	for _, levels := range []int{4, 5} {
		cfg := x86test.KernelConfig{Levels: levels, RAMSize: ramSize, ImagePhys: 0x1000000, ImageSize: 0x400000}
		k, mem, _ := crashedKernel(t, cfg)
		as, err := x86.NewKernelSpace(mem, k.VMCOREINFO(), k.Loads())
		if err != nil || as.Levels != levels {
			t.Fatalf("%d-level: %v, %v", levels, as, err)
		}
		info := k.VMCOREINFO()
		info.Numbers["pgtable_l5_enabled"] = int64(9 - levels - 4) // the other mode
		if _, err := x86.NewKernelSpace(mem, info, k.Loads()); err == nil {
			t.Errorf("%d-level dump accepted as %d-level", levels, 9-levels)
		}
	}
}

func TestNewKernelSpaceErrors(t *testing.T) {
	cfg := layouts[1].cfg
	k, mem, _ := crashedKernel(t, cfg)
	tests := []struct {
		name  string
		edit  func(*x86test.VMCOREINFO, *[]x86.Load)
		want  string
		wantE error
	}{
		{"no root symbol", func(v *x86test.VMCOREINFO, _ *[]x86.Load) { delete(v.Symbols, "init_top_pgt") },
			"neither SYMBOL(init_top_pgt) nor SYMBOL(init_level4_pgt)", nil},
		{"root outside the text map", func(v *x86test.VMCOREINFO, _ *[]x86.Load) { v.Symbols["init_top_pgt"] = 0xffff888001000000 },
			"not in the kernel text map", nil},
		{"bad pgtable_l5_enabled", func(v *x86test.VMCOREINFO, _ *[]x86.Load) { v.Numbers["pgtable_l5_enabled"] = 2 },
			"NUMBER(pgtable_l5_enabled)=2", nil},
		{"bad KERNEL_IMAGE_SIZE", func(v *x86test.VMCOREINFO, _ *[]x86.Load) { v.Numbers["KERNEL_IMAGE_SIZE"] = -1 },
			"NUMBER(KERNEL_IMAGE_SIZE)=-1", nil},
		{"no phys_base anywhere", func(v *x86test.VMCOREINFO, l *[]x86.Load) {
			delete(v.Numbers, "phys_base")
			*l = (*l)[1:]
		}, "no NUMBER(phys_base) and no PT_LOAD", nil},
		{"wrong phys_base", func(v *x86test.VMCOREINFO, _ *[]x86.Load) { v.Numbers["phys_base"] += 0x200000 },
			"init_top_pgt", nil},
		{"phys_base puts the root outside memory", func(v *x86test.VMCOREINFO, _ *[]x86.Load) { v.Numbers["phys_base"] += 1 << 40 },
			"init_top_pgt", x86.ErrTableRead},
		{"sme_mask outside the address bits", func(v *x86test.VMCOREINFO, _ *[]x86.Load) { v.Numbers["sme_mask"] = -1 },
			"sme_mask", nil},
		{"unaligned root", func(v *x86test.VMCOREINFO, _ *[]x86.Load) { v.Symbols["init_top_pgt"] += 8 },
			"not a page-aligned", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, loads := k.VMCOREINFO(), k.Loads()
			tt.edit(info, &loads)
			as, err := x86.NewKernelSpace(mem, info, loads)
			if err == nil {
				t.Fatalf("accepted: %+v", as)
			}
			if !strings.Contains(err.Error(), tt.want) || (tt.wantE != nil && !errors.Is(err, tt.wantE)) {
				t.Errorf("err = %v, want it to mention %q (and be %v)", err, tt.want, tt.wantE)
			}
		})
	}
}

// The direct-map base is the offset most direct-map loads agree on.
func TestDirectMapBaseVote(t *testing.T) {
	cfg := layouts[2].cfg
	k, mem, _ := crashedKernel(t, cfg)
	loads := []x86.Load{
		k.Loads()[0],
		// Odd ones out first and last, so that neither the first nor the
		// last load decides.
		{Virt: 0xffffc90000000000, Phys: 0x2000000, Size: 0x1000},
		{Virt: k.DirectMapBase + 0x1000000, Phys: 0x1000000, Size: 0x1000000},
		{Virt: k.DirectMapBase, Phys: 0, Size: 0x1000000},
		{Virt: k.DirectMapBase + 0x2000000, Phys: 0x2000000, Size: ramSize - 0x2000000},
		{Virt: 0xffffd00000000000, Phys: 0x3000000, Size: 0x1000},
	}
	as, err := x86.NewKernelSpace(mem, k.VMCOREINFO(), loads)
	if err != nil {
		t.Fatal(err)
	}
	if as.DirectMapBase != k.DirectMapBase {
		t.Errorf("DirectMapBase = 0x%x, want 0x%x", as.DirectMapBase, k.DirectMapBase)
	}
}
