package kernel

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/gokdump/gokdump/vmcore"
)

// Kernel is the crashed kernel as its dump shows it: the VMCOREINFO it wrote for dump
// tools, its architecture, and its virtual address space. The fields describe it and
// must not be changed. A Kernel is safe for concurrent use if its File is.
type Kernel struct {
	File   *vmcore.File
	Info   *vmcore.VMCOREINFO
	Arch   Arch
	Space  AddressSpace
	Layout Layout
}

// Open builds the crashed kernel's view of f: the architecture from the dump's machine,
// then the virtual address space from its VMCOREINFO (page-table root, paging levels,
// phys_base, sme_mask) and its PT_LOADs (the direct-map base, randomised by KASLR). A
// dump without VMCOREINFO gives vmcore's error unchanged; page tables that cannot be
// used give an error naming the file.
func Open(f *vmcore.File) (*Kernel, error) {
	info, err := f.VMCOREINFO()
	if err != nil {
		return nil, err
	}
	arch, err := ArchOf(f)
	if err != nil {
		return nil, err
	}
	space, layout, err := arch.NewSpace(f, info)
	if err != nil {
		return nil, fmt.Errorf("kernel: %s: %w", f.Name, err)
	}
	return &Kernel{File: f, Info: info, Arch: arch, Space: space, Layout: layout}, nil
}

// ReadVirt reads len(p) bytes at the kernel virtual address vaddr; when it stops early it
// returns the number of bytes read and an error. With it a *Kernel is the memory that
// printk, kallsyms and mm read the kernel's data structures through.
func (k *Kernel) ReadVirt(p []byte, vaddr uint64) (int, error) { return k.Space.ReadVirt(p, vaddr) }

// Symbol returns VMCOREINFO's SYMBOL(name): a kernel virtual address, already moved by
// KASLR. The kernel's full symbol table is package kallsyms' (kallsyms.Read(k, k.Info)).
func (k *Kernel) Symbol(name string) (uint64, bool) { return k.Info.Symbol(name) }

// KASLROffset returns VMCOREINFO's KERNELOFFSET, how far KASLR moved the kernel image
// from its link-time address (0 without KASLR).
func (k *Kernel) KASLROffset() (uint64, bool) { return k.Info.KernelOffset() }

// utsFieldLen is __NEW_UTS_LEN + 1, the size of each new_utsname field.
const utsFieldLen = 65

// ErrNoUTSName is returned when the dump has no SYMBOL(init_uts_ns) or no utsname
// where it points.
var ErrNoUTSName = errors.New("kernel: no init_uts_ns utsname in the dump")

// UTSName reads init_uts_ns.name through the kernel's page tables: what uname(2)
// returned on the crashed machine. Where the name sits inside struct uts_namespace
// changed over time (after a 4-byte kref until 5.11, first since), so it is found by its
// sysname, "Linux", at either place.
func (k *Kernel) UTSName() (vmcore.UTSName, error) {
	name := k.File.Name
	addr, ok := k.Info.Symbol("init_uts_ns")
	if !ok {
		return vmcore.UTSName{}, fmt.Errorf("%w: VMCOREINFO of %s lacks SYMBOL(init_uts_ns)", ErrNoUTSName, name)
	}
	const window = 8 + 6*utsFieldLen
	buf := make([]byte, window)
	if _, err := k.Space.ReadVirt(buf, addr); err != nil {
		return vmcore.UTSName{}, fmt.Errorf("kernel: %s: reading init_uts_ns at 0x%x: %w", name, addr, err)
	}
	for _, off := range []int{0, 4, 8} {
		u := buf[off:]
		if !bytes.HasPrefix(u, []byte("Linux\x00")) {
			continue
		}
		field := func(i int) string {
			b := u[i*utsFieldLen : (i+1)*utsFieldLen]
			if n := bytes.IndexByte(b, 0); n >= 0 {
				b = b[:n]
			}
			return string(b)
		}
		return vmcore.UTSName{Sysname: field(0), Nodename: field(1), Release: field(2), Version: field(3),
			Machine: field(4), Domainname: field(5)}, nil
	}
	return vmcore.UTSName{}, fmt.Errorf("%w: %s: no \"Linux\" sysname at init_uts_ns 0x%x", ErrNoUTSName, name, addr)
}
