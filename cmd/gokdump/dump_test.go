package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/gokdump/gokdump/kernel"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/vmcore"
)

func synthVmcore(t *testing.T) (dir, path string) {
	t.Helper()
	_, path = synth.Temp(t, synth.Default())
	return filepath.Dir(path), path
}

func runAs(t *testing.T, argv0 string, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var o, e bytes.Buffer
	if stdin == nil {
		code := run(context.Background(), append([]string{argv0}, args...), &o, &e)
		return code, o.String(), e.String()
	}
	en := &env{stdout: &o, stderr: &e, stdin: bytes.NewReader(stdin)}
	code := commands["dump"].run(context.Background(), en, args)
	return code, o.String(), e.String()
}

func TestDumpAsMakedumpfile(t *testing.T) {
	dir, vm := synthVmcore(t)
	out := filepath.Join(dir, "vmcore.kdump")
	code, stdout, stderr := runAs(t, "/usr/sbin/makedumpfile", nil, "-l", "--message-level", "7", "-d", "31", vm, out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "The dumpfile is saved to "+out) {
		t.Errorf("stdout %q", stdout)
	}
	// The synthetic kernel has no struct page keys: the dump keeps all but zero pages, and says so.
	if !strings.Contains(stderr, "keeping every page but zero pages") {
		t.Errorf("no warning about classification: %q", stderr)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("output %v, mode %v: want 0600", err, fi)
	}
	f, err := vmcore.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Format != vmcore.FormatKdump || f.Kdump.Codec != compress.LZO || f.Kdump.DumpLevel() != 31 {
		t.Errorf("format %v codec %v level %d", f.Format, f.Kdump.Codec, f.Kdump.DumpLevel())
	}

	// An existing DUMPFILE is refused, as makedumpfile does, and left alone.
	before, _ := os.ReadFile(out)
	code, _, stderr = runAs(t, "makedumpfile", nil, "-d", "1", vm, out)
	if code == 0 || !strings.Contains(stderr, "exists") {
		t.Errorf("existing output: exit %d, %q", code, stderr)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Error("the existing output was changed")
	}
	// -f overwrites.
	if code, _, stderr = runAs(t, "makedumpfile", nil, "-f", "-E", "-d", "1", vm, out); code != 0 {
		t.Fatalf("-f: exit %d: %s", code, stderr)
	}
	if g, err := vmcore.Open(out); err != nil || g.Format != vmcore.FormatELF {
		t.Errorf("-f -E: %v", err)
	}
}

// TestDumpFlattened: -F writes the flattened stream to stdout, -R rebuilds the file
// from stdin, byte for byte the file a direct dump writes.
func TestDumpFlattened(t *testing.T) {
	dir, vm := synthVmcore(t)
	direct := filepath.Join(dir, "direct")
	if code, _, stderr := runAs(t, "gokdump", nil, "dump", "-z", "-d", "31", vm, direct); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, flat, stderr := runAs(t, "makedumpfile", nil, "-F", "-z", "--message-level", "7", "-d", "31", vm)
	if code != 0 || !strings.HasPrefix(flat, "makedumpfile\x00") {
		t.Fatalf("-F: exit %d, %d bytes: %s", code, len(flat), stderr)
	}
	if !strings.Contains(stderr, "Completed") {
		t.Errorf("-F: messages should go to stderr: %q", stderr)
	}
	rebuilt := filepath.Join(dir, "rebuilt")
	if code, _, stderr := runAs(t, "makedumpfile", []byte(flat), "-R", rebuilt); code != 0 {
		t.Fatalf("-R: exit %d: %s", code, stderr)
	}
	a, _ := os.ReadFile(direct)
	b, _ := os.ReadFile(rebuilt)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("rebuilt file (%d bytes) differs from the direct one (%d bytes)", len(b), len(a))
	}
	if code, _, stderr := runAs(t, "makedumpfile", []byte(flat[:len(flat)/2]), "-R", filepath.Join(dir, "half")); code == 0 || !strings.Contains(stderr, "flattened") {
		t.Errorf("-R of a cut stream: exit %d, %q", code, stderr)
	}
}

func TestDumpStatsJSON(t *testing.T) {
	dir, vm := synthVmcore(t)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runAs(t, "gokdump", nil, "dump", "--show-stats", "--json", "--message-level", "4", "-l", "-d", "1", vm, out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var st collector.Stats
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	fi, _ := os.Stat(out)
	if st.OriginalPages != 64<<20/4096 || st.ExcludedZero == 0 || st.RemainingPages+st.ExcludedPages != st.OriginalPages ||
		st.BytesWritten != fi.Size() || st.Codec != "lzo" || st.DumpLevel != 1 {
		t.Errorf("stats %+v (file %d bytes)", st, fi.Size())
	}
	// The text report has makedumpfile's lines.
	code, stdout, _ = runAs(t, "gokdump", nil, "dump", "--show-stats", "--message-level", "0", "--dry-run", "-d", "1", vm)
	for _, l := range []string{"Original pages  : 0x0000000000004000", "Pages filled with zero  : 0x", "Total pages     : 0x0000000000004000", "Write bytes     : "} {
		if !strings.Contains(stdout, l) {
			t.Errorf("report lacks %q:\n%s", l, stdout)
		}
	}
	if code != 0 {
		t.Errorf("--dry-run: exit %d", code)
	}
}

func TestDumpSizeLimit(t *testing.T) {
	dir, vm := synthVmcore(t)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runAs(t, "makedumpfile", nil, "-L", "200K", "-d", "0", vm, out)
	if code == 0 || !strings.Contains(stderr, "size limit") || !strings.Contains(stdout, "incomplete") {
		t.Fatalf("exit %d, %q, %q", code, stdout, stderr)
	}
	f, err := vmcore.Open(out)
	if err != nil {
		t.Fatalf("the cut dump does not open: %v", err)
	}
	defer f.Close()
	if !f.Incomplete() || f.Size > 200<<10 {
		t.Errorf("incomplete %v, %d bytes", f.Incomplete(), f.Size)
	}
	// With a second level, a dump that does not fit is retried, as makedumpfile does.
	out2 := filepath.Join(dir, "out2")
	code, _, stderr = runAs(t, "makedumpfile", nil, "-L", "2M", "-d", "0,1", vm, out2)
	if code != 0 || !strings.Contains(stderr, "retrying with level 1") {
		t.Errorf("retry: exit %d, %q", code, stderr)
	}
}

func TestDumpErrors(t *testing.T) {
	dir, vm := synthVmcore(t)
	code, _, stderr := runAs(t, "makedumpfile", nil, "--vtop", "0x1000", vm)
	if code != 2 || !strings.Contains(stderr, "--vtop is not supported") {
		t.Errorf("unsupported option: exit %d, %q", code, stderr)
	}
	missing := filepath.Join(dir, "out")
	code, _, stderr = runAs(t, "makedumpfile", nil, "-d", "31", filepath.Join(dir, "nope"), missing)
	if code != 1 || !strings.Contains(stderr, "nope") {
		t.Errorf("missing vmcore: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("an output file was left behind")
	}
	if code, _, _ := runAs(t, "makedumpfile", nil, "--check-params", "-l", "-d", "31"); code != 0 {
		t.Errorf("--check-params: exit %d", code)
	}
	if code, out, _ := runAs(t, "makedumpfile", nil, "--help"); code != 0 || !strings.Contains(out, "-d LEVEL") {
		t.Errorf("--help: exit %d", code)
	}
	_ = vm
}

// TestDumpParity: what kdump scripts call besides a plain dump: -v under the
// makedumpfile name, --mem-usage, -D, -i and --split/--reassemble through the command.
func TestDumpParity(t *testing.T) {
	dir, vm := synthVmcore(t)
	code, stdout, _ := runAs(t, "makedumpfile", nil, "-v")
	first, _, _ := strings.Cut(stdout, "\n")
	if f := strings.Fields(first); code != 0 || len(f) < 5 || f[0] != "makedumpfile:" || f[1] != "version" || f[2] != "1.7.2" || f[3] != "(released" ||
		!strings.Contains(stdout, "zstd\tenabled") {
		t.Errorf("-v: exit %d, %q", code, stdout)
	}

	code, stdout, stderr := runAs(t, "makedumpfile", nil, "--mem-usage", vm)
	if code != 0 || !strings.Contains(stdout, "TYPE\t\tPAGES\t\t\tEXCLUDABLE\tDESCRIPTION") ||
		!strings.Contains(stdout, "KERN_DATA\t") || !strings.Contains(stdout, "Total pages on system:\t16384") ||
		!strings.Contains(stdout, "page size:\t\t4096") {
		t.Errorf("--mem-usage: exit %d, %q %q", code, stdout, stderr)
	}
	if code, _, stderr := runAs(t, "makedumpfile", nil, "--mem-usage", "/proc/kcore"); code != 1 || !strings.Contains(stderr, "/proc/kcore is not supported") {
		t.Errorf("--mem-usage /proc/kcore: exit %d, %q", code, stderr)
	}

	out := filepath.Join(dir, "d")
	code, stdout, _ = runAs(t, "makedumpfile", nil, "-D", "-l", "-d", "31", vm, out)
	if code != 0 || !strings.Contains(stdout, "dump levels  : [31]") || !strings.Contains(stdout, "PT_LOAD    : phys 0x") || !strings.Contains(stdout, "OSRELEASE") {
		t.Errorf("-D: exit %d, %q", code, stdout)
	}

	// -i: the VMCOREINFO of a file replaces the dump's: a file that is not one is refused.
	bad := filepath.Join(dir, "bad-info")
	os.WriteFile(bad, []byte("not vmcoreinfo\n"), 0o600)
	if code, _, stderr := runAs(t, "makedumpfile", nil, "-i", bad, "-d", "31", vm, filepath.Join(dir, "d2")); code != 1 || !strings.Contains(stderr, "-i "+bad) {
		t.Errorf("-i bad: exit %d, %q", code, stderr)
	}
	f, err := vmcore.Open(vm)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := f.VMCOREINFO()
	f.Close()
	good := filepath.Join(dir, "info")
	os.WriteFile(good, []byte(strings.ReplaceAll(string(info.Raw()), "CRASHTIME=", "CRASHTIME=1700000000\nX=")), 0o600)
	d3 := filepath.Join(dir, "d3")
	if code, _, stderr := runAs(t, "makedumpfile", nil, "-i", good, "-d", "31", vm, d3); code != 0 {
		t.Fatalf("-i: exit %d, %q", code, stderr)
	}
	f, err = vmcore.Open(d3)
	if err != nil {
		t.Fatal(err)
	}
	info3, err := f.VMCOREINFO()
	f.Close()
	if v, _ := info3.Get("CRASHTIME"); err != nil || v != "1700000000" {
		t.Errorf("-i: the dump's VMCOREINFO has CRASHTIME %q (%v), want the file's", v, err)
	}

	p1, p2, whole := filepath.Join(dir, "p1"), filepath.Join(dir, "p2"), filepath.Join(dir, "whole")
	code, stdout, stderr = runAs(t, "makedumpfile", nil, "--split", "-D", "-l", "-d", "1", "--splitblock-size", "8192", vm, p1, p2)
	if code != 0 || !strings.Contains(stdout, "The dumpfiles are saved to "+p1+", and "+p2) || !strings.Contains(stdout, "start_pfn  : 2000") {
		t.Fatalf("--split: exit %d, %q %q", code, stdout, stderr)
	}
	code, stdout, stderr = runAs(t, "makedumpfile", nil, "--reassemble", p1, p2, whole)
	if code != 0 || !strings.Contains(stdout, "The dumpfile is saved to "+whole) {
		t.Fatalf("--reassemble: exit %d, %q %q", code, stdout, stderr)
	}
	if f, err := vmcore.Open(whole); err != nil {
		t.Error(err)
	} else if _, _, split := f.Kdump.Split(); split {
		t.Error("the reassembled dump is still marked a part")
	} else {
		f.Close()
	}
}

// TestPartialDmesg: --partial-dmesg writes the records from clear_seq on. The synthetic
// kernel exports no clear_seq (the whole log, as makedumpfile), so -i adds one: a plain
// u64 (the 5.10 form) at the seq field of the ring's record 10.
func TestPartialDmesg(t *testing.T) {
	cfg := synth.Default()
	if err := cfg.AddCrash(); err != nil {
		t.Fatal(err)
	}
	_, vm := synth.Temp(t, cfg)
	dir := filepath.Dir(vm)
	whole, partial, cleared := filepath.Join(dir, "whole"), filepath.Join(dir, "partial"), filepath.Join(dir, "cleared")
	if code, _, stderr := runAs(t, "makedumpfile", nil, "--dump-dmesg", vm, whole); code != 0 {
		t.Fatalf("--dump-dmesg: %d %s", code, stderr)
	}
	if code, _, stderr := runAs(t, "makedumpfile", nil, "--partial-dmesg", "--dump-dmesg", vm, partial); code != 0 {
		t.Fatalf("--partial-dmesg: %d %s", code, stderr)
	}
	w, _ := os.ReadFile(whole)
	if p, _ := os.ReadFile(partial); len(w) == 0 || !bytes.Equal(p, w) {
		t.Errorf("without clear_seq --partial-dmesg wrote %d bytes, --dump-dmesg %d", len(p), len(w))
	}

	f, err := vmcore.Open(vm)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kernel.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := k.Info.Symbol("printk_rb_static")
	var b [8]byte
	if _, err := k.ReadVirt(b[:], rb+16); err != nil { // prb_desc_ring.infos
		t.Fatal(err)
	}
	infos := binary.LittleEndian.Uint64(b[:])
	info := filepath.Join(dir, "info")
	os.WriteFile(info, append(bytes.Clone(k.Info.Raw()), fmt.Sprintf("SYMBOL(clear_seq)=%x\n", infos+10*88)...), 0o600)
	f.Close()
	if code, _, stderr := runAs(t, "makedumpfile", nil, "-i", info, "--partial-dmesg", "--dump-dmesg", vm, cleared); code != 0 {
		t.Fatalf("--partial-dmesg with clear_seq: %d %s", code, stderr)
	}
	c, _ := os.ReadFile(cleared)
	lines := strings.SplitAfter(string(w), "\n")
	if want := strings.Join(lines[10:], ""); string(c) != want || len(lines) < 12 {
		t.Errorf("since record 10:\n%s\nwant:\n%s", c, want)
	}
	if code, _, stderr := runAs(t, "makedumpfile", nil, "--partial-dmesg", vm, cleared+"2"); code != 2 || !strings.Contains(stderr, "goes with --dump-dmesg") {
		t.Errorf("--partial-dmesg alone: %d %s", code, stderr)
	}
}
