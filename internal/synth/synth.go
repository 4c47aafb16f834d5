// Package synth builds small synthetic vmcores for tests: a crashed x86_64 kernel whose
// page tables translate, whose VMCOREINFO has what a real kernel writes, with one
// NT_PRSTATUS note per CPU and a struct uts_namespace at SYMBOL(init_uts_ns). Everything
// is written with the project's own writers (dumpfile, x86test), so tests of every later
// stage (info, the collector, printk) start from a dump they can reason about exactly.
package synth

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gokdump/gokdump/arch/x86"
	"github.com/gokdump/gokdump/arch/x86/x86test"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/vmcore"
)

// Config describes the crashed machine. Zero fields take the defaults of Default.
type Config struct {
	Kernel    x86test.KernelConfig
	Release   string // OSRELEASE and init_uts_ns.name.release
	Version   string // init_uts_ns.name.version
	Nodename  string
	CPUs      int
	CrashTime int64  // CRASHTIME, seconds since the epoch
	BuildID   string // BUILD-ID; "" leaves it out
	// UTSAt is the offset of init_uts_ns from the start of the kernel image, and
	// UTSKref whether a 4-byte kref precedes the name (kernels before 5.11).
	UTSAt   uint64
	UTSKref bool
	// Extra VMCOREINFO lines appended verbatim (KEY=value), e.g. for the classifier.
	Extra []string
	// Place, when set, may write more of the crashed kernel's data (a printk ring, ...)
	// into ram, physical memory from address 0, after the page tables and utsname are
	// in it and before the dump is written.
	Place func(ram []byte, k *x86test.Kernel) error
	// Blobs are more bytes of kernel data to put into physical memory, before Place
	// runs; AddImage adds one.
	Blobs []Blob
}

// Blob is Data at physical address Phys.
type Blob struct {
	Phys uint64
	Data []byte
}

// AddImage puts a kernel data structure that build lays out for its direct-map
// address (a printk ring from printktest, say) at physical address phys, and adds the
// VMCOREINFO lines build returns.
func (c *Config) AddImage(phys uint64, build func(vaddr uint64) ([]byte, []string)) {
	img, lines := build(c.Kernel.DirectMapBase + phys)
	c.Extra = append(c.Extra, lines...)
	c.Blobs = append(c.Blobs, Blob{Phys: phys, Data: img})
}

// Default is a 64 MiB 4-level machine with KASLR and two CPUs.
func Default() Config {
	return Config{
		Kernel: x86test.KernelConfig{Levels: 4, RAMSize: 64 << 20, ImagePhys: 0x3000000, ImageSize: 0x400000,
			KASLROffset: 0x20c00000, DirectMapBase: 0xffff9f3c40000000},
		Release:   "6.1.0-56-amd64",
		Version:   "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-01-01)",
		Nodename:  "synth",
		CPUs:      2,
		CrashTime: 1764132830,
		BuildID:   "8f6b7e0d4c1a2b3c4d5e6f708192a3b4c5d6e7f8",
		UTSAt:     0x123000,
	}
}

// Crash is a built synthetic dump.
type Crash struct {
	Config
	Kernel *x86test.Kernel
	RAM    []byte // physical memory from address 0
	Image  []byte // the ELF vmcore
	Loads  []x86.Load
	UTS    uint64   // virtual address of init_uts_ns
	RIPs   []uint64 // the instruction pointer stored for each CPU
}

// New builds the dump that cfg describes.
func New(cfg Config) (*Crash, error) {
	k, err := x86test.NewKernel(cfg.Kernel)
	if err != nil {
		return nil, err
	}
	ram := make([]byte, cfg.Kernel.RAMSize)
	if err := k.Place(ram); err != nil {
		return nil, err
	}
	c := &Crash{Config: cfg, Kernel: k, RAM: ram, Loads: k.Loads()}

	// struct uts_namespace in the kernel image's data.
	c.UTS = k.TextVirt + cfg.UTSAt
	name := ram[cfg.Kernel.ImagePhys+cfg.UTSAt:]
	if cfg.UTSKref {
		copy(name, []byte{1, 0, 0, 0})
		name = name[4:]
	}
	for i, s := range []string{"Linux", cfg.Nodename, cfg.Release, cfg.Version, "x86_64", "(none)"} {
		copy(name[i*65:(i+1)*65], s)
	}

	for _, b := range cfg.Blobs {
		if b.Phys+uint64(len(b.Data)) > uint64(len(ram)) {
			return nil, fmt.Errorf("synth: blob at 0x%x+0x%x beyond RAM", b.Phys, len(b.Data))
		}
		copy(ram[b.Phys:], b.Data)
	}
	if cfg.Place != nil {
		if err := cfg.Place(ram, k); err != nil {
			return nil, err
		}
	}

	var vi dumpfile.VMCOREINFOText
	vi.Standard(cfg.Release, 4096, cfg.CrashTime, cfg.Kernel.KASLROffset)
	if cfg.BuildID != "" {
		vi.Set("BUILD-ID", cfg.BuildID)
	}
	kv := k.VMCOREINFO()
	// Sorted, so that the same Config gives the same bytes.
	for _, n := range slices.Sorted(maps.Keys(kv.Symbols)) {
		vi.Symbol(n, kv.Symbols[n])
	}
	for _, n := range slices.Sorted(maps.Keys(kv.Numbers)) {
		vi.Number(n, kv.Numbers[n])
	}
	vi.Symbol("init_uts_ns", c.UTS)
	text := vi.Bytes()
	for _, l := range cfg.Extra {
		text = append(text, l...)
		text = append(text, '\n')
	}

	var notes []byte
	for cpu := 0; cpu < cfg.CPUs; cpu++ {
		rip := k.TextVirt + 0x1000 + uint64(cpu)*0x10
		c.RIPs = append(c.RIPs, rip)
		pr := &vmcore.PRStatus{Pid: int32(100 + cpu)}
		pr.Regs.RIP = rip
		pr.Regs.RSP = cfg.Kernel.DirectMapBase + 0x100000 + uint64(cpu)*0x4000
		notes = append(notes, dumpfile.PRStatusNote(pr)...)
	}
	notes = append(notes, dumpfile.VMCOREINFONote(text)...)

	w := &dumpfile.ELFWriter{Notes: notes}
	for _, l := range c.Loads {
		if l.Phys+l.Size > uint64(len(ram)) {
			return nil, fmt.Errorf("synth: load 0x%x+0x%x beyond RAM", l.Phys, l.Size)
		}
		w.Loads = append(w.Loads, dumpfile.ELFLoad{Phys: l.Phys, Virt: l.Virt, FileSize: l.Size, MemSize: l.Size,
			Data: bytes.NewReader(ram[l.Phys : l.Phys+l.Size])})
	}
	var out bytes.Buffer
	if _, err := w.WriteTo(&out); err != nil {
		return nil, err
	}
	c.Image = out.Bytes()
	return c, nil
}

// WriteFile writes the dump into dir as "vmcore" (mode 0600) and returns its path.
func (c *Crash) WriteFile(dir string) (string, error) {
	p := filepath.Join(dir, "vmcore")
	return p, os.WriteFile(p, c.Image, 0o600)
}

// WriteTemp builds the crash cfg describes and writes it into a new temporary directory
// of tb, failing tb on any error. It returns the directory and the dump's path.
func WriteTemp(tb testing.TB, cfg Config) (dir, path string) {
	tb.Helper()
	c, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	dir = tb.TempDir()
	path, err = c.WriteFile(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return dir, path
}
