// Package fleetgen makes fleet crash records for tests and the bench: many crashes
// over many signatures, hosts and kernel releases, shaped like the records "gokdump
// upload" writes (an info --json report with CPUs, memory ranges and a call trace), so
// an index and its pages work on data of realistic size. It is a test helper: the
// product never imports it.
package fleetgen

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/fleet"
)

// Shape says how many of each thing the generated fleet has.
type Shape struct {
	Signatures int // distinct bugs; crash counts per bug follow a Zipf law (a few big groups)
	Hosts      int
	Releases   int
	Seed       uint64
	Start      time.Time // the first crash; crashes follow each other by about a minute
}

// DefaultShape is a fleet of a few thousand machines over a dozen kernels.
var DefaultShape = Shape{Signatures: 2000, Hosts: 5000, Releases: 12, Seed: 1,
	Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}

var functions = []string{"ext4_writepages", "blk_mq_dispatch_rq_list", "nvme_queue_rq", "tcp_v4_rcv",
	"ip_finish_output2", "__alloc_pages", "shrink_folio_list", "kmem_cache_alloc", "xfs_iflush_cluster",
	"mlx5e_napi_poll", "i915_gem_do_execbuffer", "btrfs_commit_transaction", "dev_hard_start_xmit",
	"netif_receive_skb", "page_cache_ra_unbounded", "copy_page_range", "do_sys_openat2", "vfs_write"}

var reasons = []string{
	"BUG: kernel NULL pointer dereference, address: %016x",
	"general protection fault, probably for non-canonical address 0x%x: 0000 [#1] PREEMPT SMP NOPTI",
	"kernel BUG at mm/slub.c:%d!",
	"BUG: unable to handle page fault for address: %016x",
	"WARNING: CPU: 3 PID: 1 at fs/ext4/inode.c:%d ext4_writepages+0x1b0/0x1c0",
}

// Record is the i-th crash of a fleet of the given shape.
func Record(i int, s Shape) *fleet.Record {
	r := rand.New(rand.NewPCG(s.Seed, uint64(i)))
	z := rand.NewZipf(rand.New(rand.NewPCG(s.Seed^0x5eed, uint64(i))), 1.1, 4, uint64(s.Signatures-1))
	sig := int(z.Uint64())
	host := r.IntN(s.Hosts)
	rel := r.IntN(s.Releases)
	t := s.Start.Add(time.Duration(i)*time.Minute + time.Duration(r.IntN(60))*time.Second)
	machineID := fmt.Sprintf("%016x%016x", uint64(host+1)*0x9e3779b97f4a7c15, host)
	id := fleet.IDFor(t, machineID)
	// The bug decides the reason and the frames; the boot decides the rest.
	br := rand.New(rand.NewPCG(s.Seed, uint64(sig)<<32))
	reason := fmt.Sprintf(reasons[br.IntN(len(reasons))], br.IntN(1<<20))
	var frames []crashinfo.CrashFrame
	var sigFrames []string
	for k := range 12 {
		fn := functions[br.IntN(len(functions))]
		if k == 0 {
			fn = fmt.Sprintf("%s_%d", fn, sig)
		}
		frames = append(frames, crashinfo.CrashFrame{Function: fn, Offset: fmt.Sprintf("0x%x", br.IntN(0x400)),
			Size: "0x400", Reliable: true})
		if k < crashinfo.SignatureFrameCount {
			sigFrames = append(sigFrames, fn)
		}
	}
	cpu, pid := r.IntN(8), 1+r.IntN(30000)
	kernel := fmt.Sprintf("6.%d.%d-amd64", 1+rel/4, 100+rel)
	info := &crashinfo.DumpInfo{File: "/proc/vmcore", Format: "kdump-compressed",
		Dump:      &crashinfo.DumpSummary{DumpLevel: 31, Compression: "zstd", DumpedPages: uint64(20000 + r.IntN(50000))},
		Kernel:    crashinfo.KernelSummary{Release: kernel, Version: "#1 SMP PREEMPT_DYNAMIC Debian", Machine: "x86_64", Nodename: fmt.Sprintf("node%05d", host), BuildID: fmt.Sprintf("%040x", rel+1)},
		CrashTime: t.Format(time.RFC3339), CPUs: 8, CrashingCPU: &cpu,
		Memory:   crashinfo.MemorySummary{TotalBytes: 16 << 30, Ranges: []crashinfo.MemoryRange{{Start: "0x1000", End: "0x9fbff", Bytes: 0x9ec00}, {Start: "0x100000", End: "0x43fffffff", Bytes: 16<<30 - 0x100000}}},
		PageSize: 4096, PagingLevels: 4, KASLROffset: fmt.Sprintf("0x%x", r.IntN(1<<30)&^0x1fffff),
		Crash: &crashinfo.CrashSummary{Kind: "oops", Reason: reason, Panic: "Fatal exception",
			TimestampNs: uint64(r.IntN(1 << 40)), CPU: &cpu, PID: &pid, Comm: fmt.Sprintf("kworker/%d:1", cpu),
			Frames: frames, Signature: fmt.Sprintf("%016x", uint64(sig+1)*0x2545f4914f6cdd1d), SignatureReason: reason,
			SignatureFrames: sigFrames},
	}
	for c := range 8 {
		info.CPURegisters = append(info.CPURegisters, crashinfo.CPURegisters{CPU: c, PID: c * 17, Crashed: c == cpu,
			RIP: fmt.Sprintf("0xffffffff%08x", r.Uint32()), RSP: fmt.Sprintf("0xffffc900%08x", r.Uint32()), Symbol: "native_safe_halt+0xb/0x10"})
	}
	status, _ := json.Marshal(map[string]any{"version": 1, "result": "complete", "host": info.Kernel.Nodename,
		"kernel_release": kernel, "dump": "vmcore", "dump_bytes": 200 << 20})
	dumpState := fleet.DumpSampled
	if r.IntN(10) == 0 {
		dumpState = fleet.DumpComplete
	}
	return &fleet.Record{Schema: fleet.Schema, ID: id, Uploaded: t.Add(2 * time.Minute),
		Host: fleet.Host{Hostname: info.Kernel.Nodename, MachineID: machineID, Product: "Standard PC (Q35 + ICH9, 2009)",
			KernelRelease: kernel, BuildID: info.Kernel.BuildID},
		Info: info, Status: status,
		Dmesg: &fleet.Object{Key: fleet.Key("", id, fleet.DmesgObject), Size: int64(len(Dmesg(info)))},
		Dump:  &fleet.DumpState{State: dumpState, Object: fleet.Object{Key: fleet.Key("", id, fleet.DumpObject), Size: 200 << 20}},
	}
}

// Dmesg is a short kernel log ending in the record's crash report.
func Dmesg(info *crashinfo.DumpInfo) string {
	var b strings.Builder
	for k := range 40 {
		fmt.Fprintf(&b, "[%5d.%06d] boot message %d of %s\n", k, k*7919%1000000, k, info.Kernel.Release)
	}
	if c := info.Crash; c != nil {
		fmt.Fprintf(&b, "[ 4242.000001] %s\n", c.Reason)
		fmt.Fprintf(&b, "[ 4242.000002] CPU: %d PID: %d Comm: %s\n[ 4242.000003] Call Trace:\n", *c.CPU, *c.PID, c.Comm)
		for _, f := range c.Frames {
			fmt.Fprintf(&b, "[ 4242.000004]  %s+%s/%s\n", f.Function, f.Offset, f.Size)
		}
		fmt.Fprintf(&b, "[ 4242.000005] Kernel panic - not syncing: %s\n", c.Panic)
	}
	return b.String()
}

// WriteDir writes records 0..n-1 of shape s into the directory store root, as
// fleet.Dir lays them out: meta.json and vmcore-dmesg.txt of each. It writes the files
// directly, without Put's fsync per object, so a bench fills 100,000 records quickly.
func WriteDir(ctx context.Context, root string, n int, s Shape) error {
	for i := range n {
		if i%1000 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		r := Record(i, s)
		dir := filepath.Join(root, "crashes", r.ID)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fleet.MetaObject), b, 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fleet.DmesgObject), []byte(Dmesg(r.Info)), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Put writes records 0..n-1 of shape s to any store through Put (for a bucket).
func Put(ctx context.Context, st fleet.Store, prefix string, n int, s Shape) error {
	for i := range n {
		r := Record(i, s)
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		d := Dmesg(r.Info)
		if err := st.Put(ctx, fleet.Key(prefix, r.ID, fleet.DmesgObject), strings.NewReader(d), int64(len(d))); err != nil {
			return err
		}
		if err := st.Put(ctx, fleet.Key(prefix, r.ID, fleet.MetaObject), strings.NewReader(string(b)), int64(len(b))); err != nil {
			return err
		}
	}
	return nil
}
