package crashinfo_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/printk"
)

// readJSONL reads records as "gokdump dmesg --json" prints them: the fixtures are the
// tails of real Debian lab crashes.
func readJSONL(t *testing.T, path string) []printk.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []printk.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			Seq         uint64 `json:"seq"`
			TimestampNs uint64 `json:"timestamp_ns"`
			Caller      *struct{ PID, CPU *uint32 }
			Level       int
			Text        string
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rec := printk.Record{Seq: r.Seq, TimestampNs: r.TimestampNs, Level: r.Level, Text: r.Text}
		if c := r.Caller; c != nil {
			rec.HasCaller = true
			if c.PID != nil {
				rec.CallerID = *c.PID
			} else if c.CPU != nil {
				rec.CallerID = 0x80000000 | *c.CPU
			}
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// sysrqFrames is what both Debian kernels' sysrq-c traces reduce to.
var sysrqFrames = []string{"sysrq_handle_crash", "__handle_sysrq", "write_sysrq_trigger", "proc_reg_write", "vfs_write"}

func TestRealSysrq(t *testing.T) {
	var sigs []string
	for _, tc := range []struct {
		file      string
		cpu, pid  int
		nFrames   int
		firstFunc string
	}{
		{"debian-6.1-sysrq.jsonl", 1, 88, 35, "dump_stack_lvl"},
		{"debian-6.12-sysrq.jsonl", 1, 134, 18, "panic"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rep, err := crashinfo.Analyze(readJSONL(t, "testdata/"+tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Kind != crashinfo.Panic || rep.Reason != "Kernel panic - not syncing: sysrq triggered crash" ||
				rep.Panic != "sysrq triggered crash" {
				t.Errorf("kind %q reason %q panic %q", rep.Kind, rep.Reason, rep.Panic)
			}
			if rep.CPU != tc.cpu || rep.PID != tc.pid || rep.Comm != "init" || len(rep.Notes) != 0 {
				t.Errorf("CPU %d PID %d comm %q notes %q", rep.CPU, rep.PID, rep.Comm, rep.Notes)
			}
			if len(rep.Frames) != tc.nFrames || rep.Frames[0].Function != tc.firstFunc {
				t.Errorf("%d frames, first %v", len(rep.Frames), rep.Frames)
			}
			var unreliable int
			for _, f := range rep.Frames {
				if !f.Reliable {
					unreliable++
				}
				if f.Context != "" {
					t.Errorf("frame %v on stack %q", f, f.Context)
				}
			}
			if unreliable == 0 {
				t.Errorf("no '?' frames parsed as unreliable")
			}
			if !reflect.DeepEqual(rep.SignatureFrames, sysrqFrames) {
				t.Errorf("signature frames %q, want %q", rep.SignatureFrames, sysrqFrames)
			}
			if len(rep.Signature) != 16 {
				t.Errorf("signature %q", rep.Signature)
			}
			sigs = append(sigs, rep.Signature)
		})
	}
	// The same bug on two kernel versions (".cold" clone in 6.1, dump_stack_lvl
	// frame only in 6.1): one signature.
	if len(sigs) == 2 && sigs[0] != sigs[1] {
		t.Errorf("6.1 and 6.12 sysrq signatures differ: %q", sigs)
	}
}

// recs builds records from lines; "T<pid>|" or "C<cpu>|" prefixes set the caller and
// "+<ms>|" advances the clock.
func recs(text string) []printk.Record {
	var out []printk.Record
	var ts uint64 = 100e9
	for i, l := range strings.Split(strings.Trim(text, "\n"), "\n") {
		r := printk.Record{Seq: uint64(i), Level: 4}
		for {
			if k := strings.IndexByte(l, '|'); k > 0 && k < 8 {
				p := l[:k]
				switch p[0] {
				case 'T', 'C':
					var id uint32
					for _, c := range p[1:] {
						id = id*10 + uint32(c-'0')
					}
					if p[0] == 'C' {
						id |= 0x80000000
					}
					r.CallerID, r.HasCaller = id, true
				case '+':
					var ms uint64
					for _, c := range p[1:] {
						ms = ms*10 + uint64(c-'0')
					}
					ts += ms * 1e6
				}
				l = l[k+1:]
				continue
			}
			break
		}
		r.TimestampNs, r.Text = ts, l
		out = append(out, r)
	}
	return out
}

const nullDeref612 = `
T1|Run /init as init process
T220|BUG: kernel NULL pointer dereference, address: 0000000000000008
T220|#PF: supervisor write access in kernel mode
T220|#PF: error_code(0x0002) - not-present page
T220|PGD 0 P4D 0 
T220|Oops: Oops: 0002 [#1] PREEMPT SMP NOPTI
T220|CPU: 0 UID: 0 PID: 220 Comm: kworker/0:2 Kdump: loaded Tainted: G           OE      6.12.117+deb12-amd64 #1  Debian 6.12.117-1~deb12u1
T220|Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
T220|Workqueue: events broken_work_fn [broken]
T220|RIP: 0010:broken_write+0x1d/0x40 [broken]
T220|Code: 90 90 90 90 <48> c7 40 08 00 00 00 00 c3
T220|RSP: 0018:ffffb3c5c0f13e58 EFLAGS: 00010246
T220|RAX: 0000000000000000 RBX: ffff9a5e41c3a000 RCX: 0000000000000000
T220|Call Trace:
T220| <TASK>
T220| ? __die+0x23/0x70
T220| ? page_fault_oops+0x17d/0x4c0
T220| ? exc_page_fault+0x7f/0x180
T220| ? asm_exc_page_fault+0x26/0x30
T220| ? broken_write+0x1d/0x40 [broken]
T220| broken_work_fn+0x12/0x20 [broken]
T220| process_one_work+0x177/0x330
T220| worker_thread+0x252/0x390
T220| ? __pfx_worker_thread+0x10/0x10
T220| kthread+0xd2/0x100
T220| ? __pfx_kthread+0x10/0x10
T220| ret_from_fork+0x34/0x50
T220| ret_from_fork_asm+0x1a/0x30
T220| </TASK>
T220|Modules linked in: broken(OE) virtio_blk virtio_pci
T220|CR2: 0000000000000008
T220|---[ end trace 0000000000000000 ]---
`

const oops419 = `
BUG: unable to handle kernel NULL pointer dereference at 0000000000000000
PGD 0 P4D 0 
Oops: 0002 [#1] SMP PTI
CPU: 3 PID: 4242 Comm: bash Kdump: loaded Not tainted 4.19.0-27-amd64 #1 Debian 4.19.316-1
Hardware name: QEMU Standard PC (i440FX + PIIX, 1996)
RIP: 0010:sysrq_handle_crash+0x12/0x20
Code: 00 00 00 
RSP: 0018:ffffb1e240b2be50 EFLAGS: 00010246
Call Trace:
 __handle_sysrq.cold.9+0x45/0xf2
 write_sysrq_trigger+0x2b/0x30
 proc_reg_write+0x39/0x60
 vfs_write+0xa5/0x1a0
 ksys_write+0x57/0xd0
 do_syscall_64+0x53/0x110
 entry_SYSCALL_64_after_hwframe+0x44/0xa9
RIP: 0033:0x7f0c3a2e6504
Modules linked in: ext4
CR2: 0000000000000000
`

const oops310 = `
BUG: unable to handle kernel NULL pointer dereference at           (null)
IP: [<ffffffff813d5a56>] sysrq_handle_crash+0x16/0x20
Oops: 0002 [#1] SMP 
CPU: 0 PID: 1843 Comm: bash Not tainted 3.10.0-1160.el7.x86_64 #1
task: ffff8800b9a0c200 ti: ffff8800b8e30000 task.ti: ffff8800b8e30000
RIP: 0010:[<ffffffff813d5a56>]  [<ffffffff813d5a56>] sysrq_handle_crash+0x16/0x20
Call Trace:
 [<ffffffff813d6212>] __handle_sysrq+0x102/0x160
 [<ffffffff813d667f>] write_sysrq_trigger+0x2f/0x40
 [<ffffffff81272a70>] ? proc_reg_write+0x40/0x80
 [<ffffffff81200cad>] vfs_write+0xbd/0x1e0
 [<ffffffff81201abf>] SyS_write+0x7f/0xf0
 [<ffffffff817991d1>] system_call_fastpath+0x25/0x2a
Code: eb 9b 45 01 f4 
`

const warnPanic61 = `
T1|WARNING: CPU: 1 PID: 1 at drivers/gpu/drm/drm_edid.c:1234 drm_edid_block_valid+0x1a/0x200 [drm]
T300|sysrq: Show Memory
T77|WARNING: CPU: 0 PID: 77 at fs/ext4/inode.c:3989 ext4_set_page_dirty+0x4a/0x60 [ext4]
T77|Modules linked in: ext4 virtio_blk
T77|CPU: 0 PID: 77 Comm: kworker/u4:3 Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2
T77|RIP: 0010:ext4_set_page_dirty+0x4a/0x60 [ext4]
T77|Call Trace:
T77| <TASK>
T77| folio_mark_dirty+0x2f/0x60
T77| ext4_writepages+0x101/0x200 [ext4]
T77| </TASK>
T77|Kernel panic - not syncing: kernel: panic_on_warn set ...
T77|CPU: 0 PID: 77 Comm: kworker/u4:3 Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2
T77|Call Trace:
T77| <TASK>
T77| dump_stack_lvl+0x44/0x5c
T77| panic+0x118/0x2f4
T77| check_panic_on_warn.cold+0x1c/0x1c
T77| __warn+0x80/0x120
T77| </TASK>
`

// An unrelated WARNING earlier in the same task, then a sysrq crash long after.
const warnThenSysrq = `
T1|WARNING: CPU: 0 PID: 1 at kernel/foo.c:12 foo+0x1/0x2
T1|Call Trace:
T1| foo_caller+0x1/0x2
+30000|T1|sysrq: Trigger a crash
T1|Kernel panic - not syncing: sysrq triggered crash
T1|CPU: 0 PID: 1 Comm: init Not tainted 6.1.0-56-amd64 #1
T1|Call Trace:
T1| <TASK>
T1| dump_stack_lvl+0x44/0x5c
T1| panic+0x118/0x2f4
T1| sysrq_handle_crash+0x16/0x20
T1| </TASK>
`

const softLockup = `
C1|watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [spin:311]
C1|CPU: 1 PID: 311 Comm: spin Not tainted 6.1.0-56-amd64 #1
C1|RIP: 0010:spin_forever+0x5/0x10 [spinmod]
C1|Call Trace:
C1| <IRQ>
C1| watchdog_timer_fn+0x1b0/0x210
C1| __hrtimer_run_queues+0x112/0x2b0
C1| hrtimer_interrupt+0xf4/0x210
C1| __sysvec_apic_timer_interrupt+0x5d/0x110
C1| sysvec_apic_timer_interrupt+0x69/0x90
C1| </IRQ>
C1| <TASK>
C1| asm_sysvec_apic_timer_interrupt+0x16/0x20
C1| spin_write+0x20/0x30 [spinmod]
C1| vfs_write+0xc7/0x3f0
C1| </TASK>
C1|Kernel panic - not syncing: softlockup: hung tasks
C1|CPU: 1 PID: 311 Comm: spin Tainted: G             L     6.1.0-56-amd64 #1
`

const hungTask = `
T35|INFO: task init:1 blocked for more than 2 seconds.
T35|      Not tainted 6.1.0-56-amd64 #1
T35|task:init            state:D stack:0     pid:1     ppid:0      flags:0x00004000
T35|Call Trace:
T35| <TASK>
T35| __schedule+0x34d/0x9e0
T35| schedule+0x5a/0xd0
T35| percpu_rwsem_wait+0x10c/0x130
T35| __percpu_down_read+0x44/0x70
T35| ext4_file_write_iter+0x5b/0x80 [ext4]
T35| </TASK>
T35|Kernel panic - not syncing: hung_task: blocked tasks
T35|CPU: 0 PID: 35 Comm: khungtaskd Not tainted 6.1.0-56-amd64 #1
`

const oldPid = `
Kernel panic - not syncing: Attempted to kill init!
Pid: 1, comm: init Not tainted 2.6.32-754.el6.x86_64 #1
Call Trace:
 [<ffffffff8154a9f1>] ? panic+0xa7/0x179
 [<ffffffff81083f42>] ? do_exit+0x862/0x870
`

func TestAnalyze(t *testing.T) {
	for _, tc := range []struct {
		name     string
		log      string
		kind     crashinfo.Kind
		reason   string
		panic    string
		cpu, pid int
		comm     string
		sigFns   []string
		normWant string
		notes    int
	}{
		{name: "6.12 NULL dereference oops in a module", log: nullDeref612, kind: crashinfo.Oops,
			reason: "BUG: kernel NULL pointer dereference, address: 0000000000000008",
			cpu:    0, pid: 220, comm: "kworker/0:2",
			sigFns:   []string{"broken_write", "broken_work_fn", "process_one_work", "worker_thread"},
			normWant: "BUG: kernel NULL pointer dereference, address: N"},
		{name: "4.19 oops without caller ids", log: oops419, kind: crashinfo.Oops,
			reason: "BUG: unable to handle kernel NULL pointer dereference at 0000000000000000",
			cpu:    3, pid: 4242, comm: "bash",
			sigFns: []string{"sysrq_handle_crash", "__handle_sysrq", "write_sysrq_trigger", "proc_reg_write", "vfs_write"}},
		{name: "3.10 frames with addresses", log: oops310, kind: crashinfo.Oops,
			reason: "BUG: unable to handle kernel NULL pointer dereference at           (null)",
			cpu:    0, pid: 1843, comm: "bash",
			sigFns:   []string{"sysrq_handle_crash", "__handle_sysrq", "write_sysrq_trigger", "vfs_write", "SyS_write"},
			normWant: "BUG: unable to handle kernel NULL pointer dereference at (null)"},
		{name: "panic_on_warn", log: warnPanic61, kind: crashinfo.Warning,
			reason: "WARNING: CPU: 0 PID: 77 at fs/ext4/inode.c:3989 ext4_set_page_dirty+0x4a/0x60 [ext4]",
			panic:  "kernel: panic_on_warn set ...", cpu: 0, pid: 77, comm: "kworker/u4:3",
			sigFns:   []string{"ext4_set_page_dirty", "folio_mark_dirty", "ext4_writepages"},
			normWant: "WARNING: CPU: N PID: N at fs/ext4/inode.c:N ext4_set_page_dirty [ext4]"},
		{name: "unrelated earlier warning", log: warnThenSysrq, kind: crashinfo.Panic,
			reason: "Kernel panic - not syncing: sysrq triggered crash", panic: "sysrq triggered crash",
			cpu: 0, pid: 1, comm: "init", sigFns: []string{"sysrq_handle_crash"}},
		{name: "soft lockup", log: softLockup, kind: crashinfo.Oops,
			reason: "watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [spin:311]", panic: "softlockup: hung tasks",
			cpu: 1, pid: 311, comm: "spin", sigFns: []string{"spin_forever", "spin_write", "vfs_write"},
			normWant: "watchdog: BUG: soft lockup - CPU#N stuck for Ns! [spin:N]"},
		{name: "hung task", log: hungTask, kind: crashinfo.HungTask,
			reason: "INFO: task init:1 blocked for more than 2 seconds.", panic: "hung_task: blocked tasks",
			// No CPU line in the blocked task's report: khungtaskd's own comes with the panic.
			cpu: 0, pid: 35, comm: "khungtaskd",
			sigFns: []string{"__schedule", "schedule", "percpu_rwsem_wait", "__percpu_down_read", "ext4_file_write_iter"}},
		{name: "2.6 Pid line", log: oldPid, kind: crashinfo.Panic,
			reason: "Kernel panic - not syncing: Attempted to kill init!", panic: "Attempted to kill init!",
			cpu: -1, pid: 1, comm: "init", sigFns: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := crashinfo.Analyze(recs(tc.log))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Kind != tc.kind || rep.Reason != tc.reason || rep.Panic != tc.panic {
				t.Errorf("kind %q reason %q panic %q\nwant %q %q %q", rep.Kind, rep.Reason, rep.Panic, tc.kind, tc.reason, tc.panic)
			}
			if rep.CPU != tc.cpu || rep.PID != tc.pid || rep.Comm != tc.comm {
				t.Errorf("CPU %d PID %d comm %q, want %d %d %q", rep.CPU, rep.PID, rep.Comm, tc.cpu, tc.pid, tc.comm)
			}
			if !reflect.DeepEqual(rep.SignatureFrames, tc.sigFns) {
				t.Errorf("signature frames %q, want %q\nframes %v", rep.SignatureFrames, tc.sigFns, rep.Frames)
			}
			if tc.normWant != "" && rep.SignatureReason != tc.normWant {
				t.Errorf("normalized reason %q, want %q", rep.SignatureReason, tc.normWant)
			}
			if len(rep.Notes) != tc.notes {
				t.Errorf("notes %q", rep.Notes)
			}
		})
	}
}

func TestFramesDetail(t *testing.T) {
	rep, err := crashinfo.Analyze(recs(nullDeref612))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"broken_write+0x1d/0x40 [broken]",
		"? __die+0x23/0x70", "? page_fault_oops+0x17d/0x4c0", "? exc_page_fault+0x7f/0x180",
		"? asm_exc_page_fault+0x26/0x30", "? broken_write+0x1d/0x40 [broken]",
		"broken_work_fn+0x12/0x20 [broken]", "process_one_work+0x177/0x330", "worker_thread+0x252/0x390",
		"? __pfx_worker_thread+0x10/0x10", "kthread+0xd2/0x100", "? __pfx_kthread+0x10/0x10",
		"ret_from_fork+0x34/0x50", "ret_from_fork_asm+0x1a/0x30",
	}
	var got []string
	for _, f := range rep.Frames {
		got = append(got, f.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("frames\n got %q\nwant %q", got, want)
	}
	if rep.Frames[0].Context != "RIP" {
		t.Errorf("first frame context %q, want RIP", rep.Frames[0].Context)
	}
	rep, err = crashinfo.Analyze(recs(softLockup))
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Frames[1].Context; c != "IRQ" {
		t.Errorf("watchdog_timer_fn on stack %q, want IRQ", c)
	}
	if c := rep.Frames[len(rep.Frames)-1].Context; c != "" {
		t.Errorf("vfs_write on stack %q, want the task's", c)
	}
}

// Same bug, other boot: different PIDs, CPUs, addresses, offsets and timing give the
// same signature; another reason or other frames give another.
func TestSignatureStable(t *testing.T) {
	a, _ := crashinfo.Analyze(recs(nullDeref612))
	other := strings.NewReplacer("PID: 220", "PID: 9", "T220|", "T9|", "CPU: 0", "CPU: 1",
		"0000000000000008", "0000000000000010", "+0x1d/0x40", "+0x1f/0x44", "+0x177/0x330", "+0x180/0x340").Replace(nullDeref612)
	b, _ := crashinfo.Analyze(recs(other))
	if a.Signature != b.Signature {
		t.Errorf("signatures differ for the same bug: %s %s (%q vs %q)", a.Signature, b.Signature, a.SignatureReason, b.SignatureReason)
	}
	c, _ := crashinfo.Analyze(recs(strings.ReplaceAll(nullDeref612, "broken_work_fn", "other_work_fn")))
	d, _ := crashinfo.Analyze(recs(strings.ReplaceAll(nullDeref612, "NULL pointer dereference", "paging request")))
	if c.Signature == a.Signature || d.Signature == a.Signature || c.Signature == d.Signature {
		t.Errorf("different bugs share a signature: %s %s %s", a.Signature, c.Signature, d.Signature)
	}
}

func TestNormalizeReason(t *testing.T) {
	for in, want := range map[string]string{
		"Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000700":                        "Kernel panic - not syncing: Attempted to kill init! exitcode=N",
		"kernel BUG at mm/slub.c:4321!":                                                                  "kernel BUG at mm/slub.c:N!",
		"general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] SMP": "general protection fault, probably for non-canonical address N: N [#N] SMP",
		"BUG: unable to handle page fault for address: ffffb3c5c0f13e58":                                 "BUG: unable to handle page fault for address: N",
		"Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)":                 "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(N,N)",
		"BUG: scheduling while atomic: ext4lazyinit/123/0x00000002":                                      "BUG: scheduling while atomic: ext4lazyinit/N/N",
	} {
		if got := crashinfo.NormalizeReason(in); got != want {
			t.Errorf("NormalizeReason(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

func TestNoCrash(t *testing.T) {
	for _, log := range []string{
		"", "Linux version 6.1.0\nRun /init as init process",
		// A warning alone does not take a kernel down.
		"WARNING: CPU: 0 PID: 1 at kernel/foo.c:12 foo+0x1/0x2\nCall Trace:\n foo+0x1/0x2",
	} {
		if _, err := crashinfo.Analyze(recs(log)); !errors.Is(err, crashinfo.ErrNoCrash) {
			t.Errorf("%q: err = %v, want ErrNoCrash", log, err)
		}
	}
}

// The CPU line and the record's caller disagree: noted, values from the line kept.
func TestCallerMismatch(t *testing.T) {
	rep, err := crashinfo.Analyze(recs("T5|Kernel panic - not syncing: x\nT5|CPU: 0 PID: 6 Comm: sh Not tainted 6.1.0 #1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.PID != 6 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "logged by PID 5") {
		t.Errorf("PID %d notes %q", rep.PID, rep.Notes)
	}
	// No CPU line at all: the caller id of the panic record stands in.
	rep, err = crashinfo.Analyze(recs("C1|Kernel panic - not syncing: Fatal exception in interrupt\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.CPU != 1 || rep.PID != -1 || len(rep.Notes) != 1 {
		t.Errorf("CPU %d PID %d notes %q", rep.CPU, rep.PID, rep.Notes)
	}
}

// The CPU line across versions: 6.15+ appends the preemption model; a comm may hold
// spaces.
func TestCPULineFormats(t *testing.T) {
	for _, tc := range []struct {
		line     string
		cpu, pid int
		comm     string
	}{
		{"CPU: 2 UID: 1000 PID: 5 Comm: my task Tainted: G        W          6.16.0 #1 PREEMPT(lazy) ", 2, 5, "my task"},
		{"CPU: 0 UID: 0 PID: 1 Comm: init Not tainted 7.0.0-rc1 #1 PREEMPT(voluntary) ", 0, 1, "init"},
		{"CPU: 3 PID: 77 Comm: kworker/u8:1 Kdump: loaded Tainted: G        W  O      5.10.0-30-amd64 #1 Debian 5.10.218-1", 3, 77, "kworker/u8:1"},
		{"CPU: 1 PID: 9 Comm: sh 4.9.0 #1", 1, 9, "sh"},
	} {
		rep, err := crashinfo.Analyze(recs("Kernel panic - not syncing: x\n" + tc.line))
		if err != nil {
			t.Fatal(err)
		}
		if rep.CPU != tc.cpu || rep.PID != tc.pid || rep.Comm != tc.comm {
			t.Errorf("%q: CPU %d PID %d comm %q, want %d %d %q", tc.line, rep.CPU, rep.PID, rep.Comm, tc.cpu, tc.pid, tc.comm)
		}
	}
}
