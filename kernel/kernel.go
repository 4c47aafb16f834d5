package vmcore

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/gokdump/gokdump/arch/x86"
)

// KernelSpace returns the crashed kernel's virtual address space, built from the dump's
// VMCOREINFO (page-table root, paging levels, phys_base, sme_mask) and its PT_LOADs
// (the direct-map base, randomised by KASLR). Only x86_64 dumps exist today.
func (f *File) KernelSpace() (*x86.AddressSpace, error) {
	info, err := f.VMCOREINFO()
	if err != nil {
		return nil, err
	}
	as, err := x86.NewKernelSpace(f, f.x86Symbols(info), f.x86Loads())
	if err != nil {
		return nil, fmt.Errorf("vmcore: %s: %w", f.Name, err)
	}
	return as, nil
}

func (f *File) x86Loads() []x86.Load {
	loads := make([]x86.Load, 0, len(f.Loads))
	for _, s := range f.Loads {
		loads = append(loads, x86.Load{Virt: s.Virt, Phys: s.Phys, Size: s.MemSize})
	}
	return loads
}

// UTSName is the kernel's struct new_utsname: what uname(2) returned on the crashed
// machine.
type UTSName struct {
	Sysname, Nodename, Release, Version, Machine, Domainname string
}

// utsFieldLen is __NEW_UTS_LEN + 1, the size of each new_utsname field.
const utsFieldLen = 65

// ErrNoUTSName is returned when the dump has no SYMBOL(init_uts_ns) or no utsname
// where it points.
var ErrNoUTSName = errors.New("vmcore: no init_uts_ns utsname in the dump")

// UTSName reads init_uts_ns.name through the kernel's page tables. Where the name
// sits inside struct uts_namespace changed over time (after a 4-byte kref until 5.11,
// first since), so it is found by its sysname, "Linux", at either place.
func (f *File) UTSName(as *x86.AddressSpace) (UTSName, error) {
	info, err := f.VMCOREINFO()
	if err != nil {
		return UTSName{}, err
	}
	addr, ok := info.Symbol("init_uts_ns")
	if !ok {
		return UTSName{}, fmt.Errorf("%w: VMCOREINFO of %s lacks SYMBOL(init_uts_ns)", ErrNoUTSName, f.Name)
	}
	const window = 8 + 6*utsFieldLen
	buf := make([]byte, window)
	if _, err := as.ReadVirt(buf, addr); err != nil {
		return UTSName{}, fmt.Errorf("vmcore: %s: reading init_uts_ns at 0x%x: %w", f.Name, addr, err)
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
		return UTSName{field(0), field(1), field(2), field(3), field(4), field(5)}, nil
	}
	return UTSName{}, fmt.Errorf("%w: %s: no \"Linux\" sysname at init_uts_ns 0x%x", ErrNoUTSName, f.Name, addr)
}
