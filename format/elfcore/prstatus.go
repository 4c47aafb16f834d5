package elfcore

import (
	"encoding/binary"
	"fmt"
)

// Layout of the x86_64 struct elf_prstatus (include/uapi/linux/elfcore.h
// with 8-byte longs): the fixed part up to the registers, then pr_reg as a
// struct user_regs_struct of 27 unsigned longs, then int pr_fpvalid and
// 4 bytes of padding.
const (
	prInfoOff    = 0   // struct elf_siginfo: si_signo, si_code, si_errno (int32 each)
	prCursigOff  = 12  // short pr_cursig (2 bytes of padding follow)
	prSigpendOff = 16  // unsigned long pr_sigpend
	prSigholdOff = 24  // unsigned long pr_sighold
	prPidOff     = 32  // pid_t pr_pid, pr_ppid, pr_pgrp, pr_sid
	prTimesOff   = 48  // four struct timeval (16 bytes each): utime, stime, cutime, cstime
	prRegOff     = 112 // elf_gregset_t pr_reg
	prRegCount   = 27
	prFpvalidOff = prRegOff + prRegCount*8 // 328
	// PRStatusSize is sizeof(struct elf_prstatus) on x86_64.
	PRStatusSize = 336
)

// RegsX86_64 is struct user_regs_struct of x86_64, in its memory order.
type RegsX86_64 struct {
	R15, R14, R13, R12, RBP, RBX, R11, R10, R9, R8  uint64
	RAX, RCX, RDX, RSI, RDI, OrigRAX, RIP, CS       uint64
	EFLAGS, RSP, SS, FSBase, GSBase, DS, ES, FS, GS uint64
}

// Timeval is a struct timeval of x86_64.
type Timeval struct{ Sec, Usec int64 }

// PRStatus is the x86_64 struct elf_prstatus of an NT_PRSTATUS note. The
// kernel's crash path fills in only Pid (the task running on that CPU) and
// Regs (the CPU's registers at the crash); process core dumps fill the rest.
type PRStatus struct {
	Signo, Code, Errno           int32 // pr_info (struct elf_siginfo)
	Cursig                       int16 // current signal
	Sigpend, Sighold             uint64
	Pid, PPid, Pgrp, Sid         int32
	Utime, Stime, CUtime, CStime Timeval
	Regs                         RegsX86_64
	FPValid                      int32
}

// UnmarshalBinary decodes an NT_PRSTATUS descriptor of exactly PRStatusSize
// bytes. Errors are *FormatError with offsets relative to b.
func (s *PRStatus) UnmarshalBinary(b []byte) error {
	if len(b) != PRStatusSize {
		return &FormatError{Msg: fmt.Sprintf("NT_PRSTATUS descriptor is %d bytes, want %d (x86_64 struct elf_prstatus)", len(b), PRStatusSize)}
	}
	le := binary.LittleEndian
	i32 := func(off int) int32 { return int32(le.Uint32(b[off:])) }
	tv := func(off int) Timeval { return Timeval{int64(le.Uint64(b[off:])), int64(le.Uint64(b[off+8:]))} }
	*s = PRStatus{
		Signo:   i32(prInfoOff),
		Code:    i32(prInfoOff + 4),
		Errno:   i32(prInfoOff + 8),
		Cursig:  int16(le.Uint16(b[prCursigOff:])),
		Sigpend: le.Uint64(b[prSigpendOff:]),
		Sighold: le.Uint64(b[prSigholdOff:]),
		Pid:     i32(prPidOff),
		PPid:    i32(prPidOff + 4),
		Pgrp:    i32(prPidOff + 8),
		Sid:     i32(prPidOff + 12),
		Utime:   tv(prTimesOff),
		Stime:   tv(prTimesOff + 16),
		CUtime:  tv(prTimesOff + 32),
		CStime:  tv(prTimesOff + 48),
		FPValid: i32(prFpvalidOff),
	}
	regs := s.Regs.slots()
	for i, r := range regs {
		*r = le.Uint64(b[prRegOff+8*i:])
	}
	return nil
}

// MarshalBinary encodes s as an NT_PRSTATUS descriptor, the inverse of
// UnmarshalBinary (used by writers and tests to build vmcores).
func (s *PRStatus) MarshalBinary() ([]byte, error) {
	b := make([]byte, PRStatusSize)
	le := binary.LittleEndian
	p32 := func(off int, v int32) { le.PutUint32(b[off:], uint32(v)) }
	ptv := func(off int, t Timeval) {
		le.PutUint64(b[off:], uint64(t.Sec))
		le.PutUint64(b[off+8:], uint64(t.Usec))
	}
	p32(prInfoOff, s.Signo)
	p32(prInfoOff+4, s.Code)
	p32(prInfoOff+8, s.Errno)
	le.PutUint16(b[prCursigOff:], uint16(s.Cursig))
	le.PutUint64(b[prSigpendOff:], s.Sigpend)
	le.PutUint64(b[prSigholdOff:], s.Sighold)
	p32(prPidOff, s.Pid)
	p32(prPidOff+4, s.PPid)
	p32(prPidOff+8, s.Pgrp)
	p32(prPidOff+12, s.Sid)
	ptv(prTimesOff, s.Utime)
	ptv(prTimesOff+16, s.Stime)
	ptv(prTimesOff+32, s.CUtime)
	ptv(prTimesOff+48, s.CStime)
	p32(prFpvalidOff, s.FPValid)
	regs := s.Regs.slots()
	for i, r := range regs {
		le.PutUint64(b[prRegOff+8*i:], *r)
	}
	return b, nil
}

// slots lists the registers in pr_reg order.
func (r *RegsX86_64) slots() [prRegCount]*uint64 {
	return [prRegCount]*uint64{
		&r.R15, &r.R14, &r.R13, &r.R12, &r.RBP, &r.RBX, &r.R11, &r.R10, &r.R9, &r.R8,
		&r.RAX, &r.RCX, &r.RDX, &r.RSI, &r.RDI, &r.OrigRAX, &r.RIP, &r.CS,
		&r.EFLAGS, &r.RSP, &r.SS, &r.FSBase, &r.GSBase, &r.DS, &r.ES, &r.FS, &r.GS,
	}
}
