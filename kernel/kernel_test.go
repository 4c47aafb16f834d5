package kernel_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/vmcore"
)

func open(t *testing.T, img []byte) *vmcore.File {
	t.Helper()
	f, err := vmcore.NewFile(bytes.NewReader(img), int64(len(img)), "synth")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Open finds what the synthetic kernel was built with: its paging mode, phys_base and
// KASLR'd direct map, and reads its utsname through them.
func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		levels int
		kref   bool
		dm     uint64
	}{{"4-level", 4, false, 0xffff9f3c40000000}, {"5-level kref", 5, true, 0xff4a5c0000000000}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := synth.Default()
			cfg.Kernel.Levels, cfg.Kernel.DirectMapBase, cfg.UTSKref = tc.levels, tc.dm, tc.kref
			c, err := synth.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			k, err := kernel.Open(open(t, c.Image))
			if err != nil {
				t.Fatal(err)
			}
			want := kernel.Layout{PagingLevels: tc.levels, PhysBase: c.Kernel.PhysBase, DirectMapBase: tc.dm}
			if k.Layout != want || k.Arch.Name() != "x86_64" {
				t.Errorf("%s layout %+v, want %+v", k.Arch.Name(), k.Layout, want)
			}
			if off, ok := k.KASLROffset(); !ok || off != cfg.Kernel.KASLROffset {
				t.Errorf("KASLR offset 0x%x %v, want 0x%x", off, ok, cfg.Kernel.KASLROffset)
			}
			if a, ok := k.Symbol("init_uts_ns"); !ok || a != c.UTS {
				t.Errorf("SYMBOL(init_uts_ns) 0x%x %v, want 0x%x", a, ok, c.UTS)
			}
			uts, err := k.UTSName()
			if err != nil {
				t.Fatal(err)
			}
			if uts != (vmcore.UTSName{Sysname: "Linux", Nodename: cfg.Nodename, Release: cfg.Release, Version: cfg.Version,
				Machine: "x86_64", Domainname: "(none)"}) {
				t.Errorf("utsname %+v", uts)
			}
			// The same bytes through the kernel-text map and the direct map.
			a, b := make([]byte, 9), make([]byte, 9)
			phys, _, err := k.Space.Translate(c.UTS)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := k.ReadVirt(a, c.UTS); err != nil {
				t.Fatal(err)
			}
			if _, err := k.ReadVirt(b, k.Layout.DirectMapBase+phys); err != nil || !bytes.Contains(a, []byte("Linux")) || !bytes.Equal(a, b) {
				t.Errorf("init_uts_ns reads %q through the text map, %q (%v) through the direct map", a, b, err)
			}
		})
	}
}

// A dump whose init_uts_ns holds no utsname says so with ErrNoUTSName, naming the file.
func TestUTSNameMissing(t *testing.T) {
	c, err := synth.New(synth.Default())
	if err != nil {
		t.Fatal(err)
	}
	sysname := append([]byte("Linux"), make([]byte, 60)...)
	img := bytes.ReplaceAll(c.Image, sysname, append([]byte("Xinux"), make([]byte, 60)...))
	k, err := kernel.Open(open(t, img))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.UTSName(); !errors.Is(err, kernel.ErrNoUTSName) || !strings.Contains(err.Error(), "synth") {
		t.Errorf("UTSName of a dump without one: %v", err)
	}
}

// Without VMCOREINFO there is no kernel to see: vmcore's error comes back unchanged.
func TestOpenWithoutVMCOREINFO(t *testing.T) {
	f := &vmcore.File{Name: "empty"}
	if _, err := kernel.Open(f); !errors.Is(err, vmcore.ErrNoVMCOREINFO) {
		t.Errorf("Open: %v, want ErrNoVMCOREINFO", err)
	}
}

func TestArchOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *vmcore.File
		want string // "" : an error
	}{
		{"ELF", &vmcore.File{Format: vmcore.FormatELF}, "x86_64"},
		{"kdump x86_64", &vmcore.File{Kdump: &vmcore.KdumpInfo{UTSName: vmcore.UTSName{Machine: "x86_64"}}}, "x86_64"},
		{"kdump without a machine", &vmcore.File{Kdump: &vmcore.KdumpInfo{}}, "x86_64"},
		{"kdump arm64", &vmcore.File{Name: "arm", Kdump: &vmcore.KdumpInfo{UTSName: vmcore.UTSName{Machine: "aarch64"}}}, ""},
	} {
		a, err := kernel.ArchOf(tc.f)
		switch {
		case tc.want == "" && (err == nil || !strings.Contains(err.Error(), `arm: machine "aarch64"`)):
			t.Errorf("%s: %v, %v; want an error naming the file and machine", tc.name, a, err)
		case tc.want != "" && (err != nil || a.Name() != tc.want):
			t.Errorf("%s: %v, %v; want %s", tc.name, a, err, tc.want)
		}
	}
}

// The kernel-text PT_LOAD is an alias of memory other PT_LOADs hold, unless it is all the
// dump has.
func TestTextAliases(t *testing.T) {
	const text, direct = 0xffffffff81000000, 0xffff888000000000
	for _, tc := range []struct {
		name  string
		loads []vmcore.Segment
		want  []bool
	}{
		{"text and direct map", []vmcore.Segment{{Virt: text, Phys: 0x1000000, MemSize: 1 << 21}, {Virt: direct, MemSize: 1 << 30}}, []bool{true, false}},
		{"text alone", []vmcore.Segment{{Virt: text, Phys: 0x1000000, MemSize: 1 << 21}}, []bool{false}},
		{"text and an empty load", []vmcore.Segment{{Virt: text, MemSize: 1 << 21}, {Virt: direct}}, []bool{false, false}},
		{"no virtual addresses", []vmcore.Segment{{MemSize: 1 << 21}, {Phys: 1 << 21, MemSize: 1 << 21}}, []bool{false, false}},
	} {
		got := kernel.TextAliases(&vmcore.File{Loads: tc.loads})
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
	// A machine the package cannot read has no aliases.
	f := &vmcore.File{Kdump: &vmcore.KdumpInfo{UTSName: vmcore.UTSName{Machine: "aarch64"}},
		Loads: []vmcore.Segment{{Virt: text, MemSize: 1}, {Virt: direct, MemSize: 1}}}
	if got := kernel.TextAliases(f); got[0] || got[1] {
		t.Errorf("aarch64: %v", got)
	}
}
