package synth

import (
	"fmt"

	"github.com/gokdump/gokdump/arch/x86/x86test"
	"github.com/gokdump/gokdump/kallsyms"
	"github.com/gokdump/gokdump/kallsyms/kallsymstest"
	"github.com/gokdump/gokdump/printk/printktest"
)

// Where AddCrash puts the synthetic kernel's log and symbol tables, in its direct map.
const (
	crashRingPhys   = 0x1000000
	crashTablesPhys = 0x1400000
)

// CrashLog is a 6.12 sysrq crash on CPU 1 by PID 101, the task synth's second CPU
// note holds.
var CrashLog = []printktest.Message{
	{Text: "Run /init as init process", TimestampNs: 5_863_756_494, CallerID: 1, Level: 6},
	{Text: "sysrq: Trigger a crash", TimestampNs: 13_813_586_000, CallerID: 101, Level: 6},
	{Text: "Kernel panic - not syncing: sysrq triggered crash", TimestampNs: 13_813_898_000, CallerID: 101, Level: 0},
	{Text: "CPU: 1 UID: 0 PID: 101 Comm: init Kdump: loaded Not tainted 6.12.117+deb12-amd64 #1  Debian 6.12.117-1~deb12u1", TimestampNs: 13_816_310_000, CallerID: 101, Level: 4},
	{Text: "Call Trace:", TimestampNs: 13_816_796_000, CallerID: 101, Level: 4},
	{Text: " <TASK>", TimestampNs: 13_817_549_000, CallerID: 101, Level: 4},
	{Text: " panic+0x344/0x3a0", TimestampNs: 13_817_903_000, CallerID: 101, Level: 4},
	{Text: " ? _printk+0x64/0x80", TimestampNs: 13_818_281_000, CallerID: 101, Level: 4},
	{Text: " sysrq_handle_crash+0x1a/0x20", TimestampNs: 13_818_335_000, CallerID: 101, Level: 4},
	{Text: " __handle_sysrq+0xa7/0x1a0", TimestampNs: 13_818_534_000, CallerID: 101, Level: 4},
	{Text: " write_sysrq_trigger+0x59/0x80", TimestampNs: 13_818_588_000, CallerID: 101, Level: 4},
	{Text: " </TASK>", TimestampNs: 13_820_410_000, CallerID: 101, Level: 4},
}

// AddCrash gives the dump a kernel log holding CrashLog and kallsyms tables that name
// the instruction pointers New stores (_text + 0x1000 + 0x10*cpu): default_idle for CPU
// 0, __crash_kexec for CPU 1. It sets c.Place.
func (c *Config) AddCrash() error {
	ring := printktest.NewLockless(5, 12)
	for _, m := range CrashLog {
		if _, err := ring.Add(m); err != nil {
			return err
		}
	}
	text := 0xffffffff81000000 + c.Kernel.KASLROffset
	tab := kallsymstest.Tables{AbsolutePercpu: true, Symbols: []kallsyms.Symbol{
		{Name: "fixed_percpu_data", Type: 'A', Addr: 0},
		{Name: "_text", Type: 'T', Addr: text},
		{Name: "_stext", Type: 'T', Addr: text},
		{Name: "default_idle", Type: 'T', Addr: text + 0xff0},
		{Name: "__crash_kexec", Type: 'T', Addr: text + 0x1008},
		{Name: "panic", Type: 'T', Addr: text + 0x1040},
		{Name: "_etext", Type: 'T', Addr: text + 0x2000},
	}}
	dm := c.Kernel.DirectMapBase
	if dm == 0 {
		dm = 0xffff888000000000
	}
	ringImg, ringLines := ring.Image(dm + crashRingPhys)
	tabImg, tabLines, err := tab.Image(dm + crashTablesPhys)
	if err != nil {
		return err
	}
	c.Extra = append(append(append(c.Extra, ringLines...), tabLines...), fmt.Sprintf("SYMBOL(_stext)=%x", text))
	c.Place = func(ram []byte, k *x86test.Kernel) error {
		if k.TextVirt != text {
			return fmt.Errorf("synth put _text at 0x%x, the tables say 0x%x", k.TextVirt, text)
		}
		copy(ram[crashRingPhys:], ringImg)
		copy(ram[crashTablesPhys:], tabImg)
		return nil
	}
	return nil
}
