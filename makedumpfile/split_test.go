package makedumpfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/vmcore"
)

// samePages fails unless got holds what want holds: every pfn below maxMapnr is dumped
// in both or in neither, with the same contents.
func samePages(t *testing.T, what, want, got string) (pages int) {
	t.Helper()
	w, err := vmcore.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	g, err := vmcore.Open(got)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer g.Close()
	if g.Kdump == nil || w.Kdump == nil || g.Kdump.MaxMapnr != w.Kdump.MaxMapnr {
		t.Fatalf("%s: not a kdump-compressed file of the same max_mapnr", what)
	}
	pw, pg := make([]byte, 4096), make([]byte, 4096)
	for pfn := uint64(0); pfn < w.Kdump.MaxMapnr; pfn++ {
		dw, _ := w.PageDumped(pfn)
		dg, err := g.PageDumped(pfn)
		if err != nil || dw != dg {
			t.Fatalf("%s: pfn 0x%x dumped %v, want %v (%v)", what, pfn, dg, dw, err)
		}
		if !dw {
			continue
		}
		if _, err := w.ReadPhys(pw, pfn*4096); err != nil {
			t.Fatal(err)
		}
		if _, err := g.ReadPhys(pg, pfn*4096); err != nil || !bytes.Equal(pw, pg) {
			t.Fatalf("%s: pfn 0x%x differs (%v)", what, pfn, err)
		}
		pages++
	}
	return pages
}

// TestSplitReassemble writes split dumps with --split and merges them with Debian's
// makedumpfile --reassemble and with ours: the two merged files are the same bytes,
// and their pages are those of a dump written whole (itself checked against the
// source vmcore by the collector's tests). With the default splitblock (1 GiB) all of
// the synthetic machine's 64 MiB falls in the first part, and the others are empty, as
// makedumpfile cuts them.
func TestSplitReassemble(t *testing.T) {
	mdf := testenv.NeedTool(t, "makedumpfile", "makedumpfile")
	_, vm := synth.Temp(t, synth.Default())
	for _, tc := range []struct {
		name  string
		args  []string
		parts int
		empty int // parts with an empty range
	}{
		{"lzo-d1-4M", []string{"-l", "-d", "1", "--splitblock-size", "4096"}, 3, 0},
		{"zstd-d31-8M", []string{"-z", "-d", "31", "--splitblock-size", "8192"}, 2, 0},
		{"raw-d0-default", []string{"-d", "0"}, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			whole := filepath.Join(dir, "whole")
			args := append(append([]string{}, tc.args...), vm, whole)
			a := command(t, removeSplitblock(args)...)
			if _, _, err := a.RunDump(context.Background(), nil, a.Options()); err != nil {
				t.Fatal(err)
			}
			var parts []string
			for i := range tc.parts {
				parts = append(parts, filepath.Join(dir, "part"+string(rune('1'+i))))
			}
			a = command(t, append(append(append([]string{"--split"}, tc.args...), vm), parts...)...)
			st, sp, err := a.RunSplit(context.Background(), a.Options())
			if err != nil {
				t.Fatal(err)
			}
			empty := 0
			var next uint64
			for i, p := range sp {
				if p.StartPFN != next {
					t.Errorf("part %d starts at 0x%x, want 0x%x", i, p.StartPFN, next)
				}
				next = p.EndPFN
				if p.StartPFN == p.EndPFN {
					empty++
				}
				f, err := vmcore.Open(parts[i])
				if err != nil {
					t.Fatal(err)
				}
				s, e, ok := f.Kdump.Split()
				n, derr := f.DumpedPages()
				f.Close()
				if !ok || s != p.StartPFN || e != p.EndPFN || derr != nil || n != p.Pages {
					t.Errorf("part %d: sub header range [0x%x, 0x%x) %v, %d pages (%v); want [0x%x, 0x%x), %d pages",
						i, s, e, ok, n, derr, p.StartPFN, p.EndPFN, p.Pages)
				}
				if fi, _ := os.Stat(parts[i]); fi.Mode().Perm() != 0o600 {
					t.Errorf("part %d has mode %v", i, fi.Mode())
				}
			}
			if next != st.TotalPages || empty != tc.empty {
				t.Errorf("parts end at 0x%x (max_mapnr 0x%x), %d empty (want %d)", next, st.TotalPages, empty, tc.empty)
			}

			theirs := filepath.Join(dir, "theirs")
			if b, err := exec.Command(mdf, append(append([]string{"--reassemble"}, parts...), theirs)...).CombinedOutput(); err != nil {
				t.Fatalf("makedumpfile --reassemble: %v\n%s", err, b)
			}
			ours := filepath.Join(dir, "ours")
			a = command(t, append(append([]string{"--reassemble"}, parts...), ours)...)
			if _, err := a.RunReassemble(); err != nil {
				t.Fatal(err)
			}
			bt, _ := os.ReadFile(theirs)
			bo, _ := os.ReadFile(ours)
			if !bytes.Equal(bt, bo) {
				t.Errorf("our reassembled file (%d bytes) differs from makedumpfile's (%d bytes)", len(bo), len(bt))
			}
			if n := samePages(t, "makedumpfile's reassembly", whole, theirs); n == 0 {
				t.Error("no page dumped")
			}
			samePages(t, "our reassembly", whole, ours)
		})
	}
}

func removeSplitblock(args []string) []string {
	for i, a := range args {
		if a == "--splitblock-size" {
			return append(append([]string{}, args[:i]...), args[i+2:]...)
		}
	}
	return args
}

// TestReassembleRefuses: parts missing, parts of another dump, a file that is not a
// part; the output is not left behind.
func TestReassembleRefuses(t *testing.T) {
	_, vm := synth.Temp(t, synth.Default())
	dir := t.TempDir()
	p := []string{filepath.Join(dir, "p1"), filepath.Join(dir, "p2"), filepath.Join(dir, "p3")}
	a := command(t, "--split", "-d", "1", "--splitblock-size", "4096", vm, p[0], p[1], p[2])
	if _, _, err := a.RunSplit(context.Background(), a.Options()); err != nil {
		t.Fatal(err)
	}
	whole := filepath.Join(dir, "whole")
	a = command(t, "-d", "1", vm, whole)
	if _, _, err := a.RunDump(context.Background(), nil, a.Options()); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{p[0], p[2]}, "do not cover"},
		{[]string{p[0], p[1]}, "a part is missing"},
		{[]string{p[0], whole}, "not a part of a split dump"},
		{[]string{p[0], vm}, "not a kdump-compressed file"},
	} {
		a := command(t, append(append([]string{"--reassemble"}, tc.in...), out)...)
		if _, err := a.RunReassemble(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%q: output left behind", tc.in)
		}
	}
	for _, args := range [][]string{
		{"--split", vm, p[0]},
		{"--split", "-E", vm, p[0], p[1]},
		{"--split", "-F", vm, p[0], p[1]},
		{"--split", "--num-threads", "2", vm, p[0], p[1]},
		{"--reassemble", p[0], out},
		{"--reassemble", "-l", p[0], p[1], out},
	} {
		a, err := Parse(args)
		if err == nil {
			err = a.Check()
		}
		if err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestSplitDryRun: --split --dry-run makes no file and says how big the parts would be.
func TestSplitDryRun(t *testing.T) {
	_, vm := synth.Temp(t, synth.Default())
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "p1"), filepath.Join(dir, "p2")
	a := command(t, "--split", "--dry-run", "-l", "-d", "1", "--splitblock-size", "8192", vm, p1, p2)
	st, parts, err := a.RunSplit(context.Background(), a.Options())
	if err != nil || len(parts) != 2 || st.BytesWritten == 0 || parts[1].Pages == 0 {
		t.Fatalf("%+v %+v %v", st, parts, err)
	}
	for _, p := range []string{p1, p2} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s made by a dry run", p)
		}
	}
}

// mdfInfo writes a VMCOREINFO file with which makedumpfile 1.7.2 saves the synthetic
// vmcore vm at dump levels that need no struct page (0 and 1): makedumpfile adds the
// KASLR offset to every SYMBOL of a -i file, so they are given without it, and
// SYMBOL(mem_map) (FLATMEM) points at a non-zero word, the top page table's last entry.
func mdfInfo(t *testing.T, vm string) string {
	t.Helper()
	f, err := vmcore.Open(vm)
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.VMCOREINFO()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	off, _ := info.Get("KERNELOFFSET")
	kaslr, err := strconv.ParseUint(off, 16, 64)
	if err != nil {
		t.Fatalf("KERNELOFFSET %q: %v", off, err)
	}
	var b strings.Builder
	for _, k := range info.Keys() {
		v, _ := info.Get(k)
		if strings.HasPrefix(k, "SYMBOL(") {
			a, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			v = strconv.FormatUint(a-kaslr, 16)
		}
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	pgt, _ := info.Symbol("init_top_pgt")
	fmt.Fprintf(&b, "SYMBOL(mem_map)=%x\nOFFSET(uts_namespace.name)=0\nSIZE(page)=64\nOFFSET(page.flags)=0\n"+
		"OFFSET(page._refcount)=52\nOFFSET(page.mapping)=24\nOFFSET(page.lru)=8\nOFFSET(page.private)=40\n", pgt+511*8-kaslr)
	p := filepath.Join(t.TempDir(), "vmcoreinfo")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMakedumpfileSplitReassembledByUs: Debian's makedumpfile --split writes the parts
// (with -i mdfInfo, at levels 0 and 1); our --reassemble merges them into the same
// bytes as makedumpfile --reassemble, with the pages of our own whole dump; our --split
// of the same vmcore cuts the same pfn ranges with the same pages in each, and each of
// makedumpfile's parts reads alone with its range.
func TestMakedumpfileSplitReassembledByUs(t *testing.T) {
	mdf := testenv.NeedTool(t, "makedumpfile", "makedumpfile")
	_, vm := synth.Temp(t, synth.Default())
	info := mdfInfo(t, vm)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"raw-d0", []string{"-d", "0", "--splitblock-size", "8192"}},
		{"lzo-d1", []string{"-l", "-d", "1", "--splitblock-size", "4096"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			theirParts := []string{filepath.Join(dir, "m1"), filepath.Join(dir, "m2"), filepath.Join(dir, "m3")}
			args := append(append(append([]string{"-i", info, "--split"}, tc.args...), vm), theirParts...)
			if b, err := exec.Command(mdf, args...).CombinedOutput(); err != nil {
				t.Fatalf("makedumpfile %q: %v\n%s", args, err, b)
			}
			theirs, ours := filepath.Join(dir, "theirs"), filepath.Join(dir, "ours")
			if b, err := exec.Command(mdf, append(append([]string{"--reassemble"}, theirParts...), theirs)...).CombinedOutput(); err != nil {
				t.Fatalf("makedumpfile --reassemble: %v\n%s", err, b)
			}
			a := command(t, append(append([]string{"--reassemble"}, theirParts...), ours)...)
			if _, err := a.RunReassemble(); err != nil {
				t.Fatal(err)
			}
			bt, _ := os.ReadFile(theirs)
			bo, _ := os.ReadFile(ours)
			if len(bt) == 0 || !bytes.Equal(bt, bo) {
				t.Errorf("our merge of makedumpfile's parts (%d bytes) differs from its own (%d bytes)", len(bo), len(bt))
			}
			whole := filepath.Join(dir, "whole")
			a = command(t, append(append(removeSplitblock(tc.args), vm), whole)...)
			if _, _, err := a.RunDump(context.Background(), nil, a.Options()); err != nil {
				t.Fatal(err)
			}
			if n := samePages(t, "our merge of makedumpfile's parts", whole, ours); n < 8192 {
				t.Errorf("only %d pages", n)
			}

			ourParts := []string{filepath.Join(dir, "o1"), filepath.Join(dir, "o2"), filepath.Join(dir, "o3")}
			a = command(t, append(append(append([]string{"--split"}, tc.args...), vm), ourParts...)...)
			_, sp, err := a.RunSplit(context.Background(), a.Options())
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range theirParts {
				f, err := vmcore.Open(p)
				if err != nil {
					t.Fatalf("makedumpfile's part %d: %v", i, err)
				}
				s, e, ok := f.Kdump.Split()
				n, derr := f.DumpedPages()
				f.Close()
				if !ok || s != sp[i].StartPFN || e != sp[i].EndPFN || derr != nil || n != sp[i].Pages {
					t.Errorf("part %d: makedumpfile's [0x%x, 0x%x) %d pages (%v), ours [0x%x, 0x%x) %d pages",
						i, s, e, n, derr, sp[i].StartPFN, sp[i].EndPFN, sp[i].Pages)
				}
			}
		})
	}
}
