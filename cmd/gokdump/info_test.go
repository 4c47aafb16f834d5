package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/internal/synth"
)

func hex(v uint64) string { return fmt.Sprintf("0x%x", v) }

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), append([]string{"gokdump"}, args...), &o, &e)
	return code, o.String(), e.String()
}

func TestInfoJSON(t *testing.T) {
	for _, tc := range []struct {
		name   string
		levels int
		kaslr  uint64
	}{{"5-level kaslr", 5, 0x1c600000}, {"4-level nokaslr", 4, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := synth.Default()
			cfg.Kernel.Levels = tc.levels
			cfg.Kernel.KASLROffset = tc.kaslr
			cfg.Kernel.DirectMapBase = map[int]uint64{4: 0xffff888000000000, 5: 0xff11000000000000}[tc.levels]
			cfg.CPUs = 3
			if err := cfg.AddCrash(); err != nil {
				t.Fatal(err)
			}
			c, err := synth.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			path, err := c.WriteFile(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			// Flags after the operand are accepted, as with makedumpfile.
			code, out, errs := runCmd(t, "info", path, "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var r crashinfo.DumpInfo
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if len(r.Warnings) != 0 {
				t.Errorf("warnings: %q", r.Warnings)
			}
			if r.Kernel.Release != cfg.Release || r.Kernel.Version != cfg.Version || r.Kernel.Machine != "x86_64" ||
				r.Kernel.Nodename != cfg.Nodename || r.Kernel.BuildID != cfg.BuildID {
				t.Errorf("kernel %+v", r.Kernel)
			}
			if r.CPUs != 3 || r.PagingLevels != tc.levels || r.PageSize != 4096 {
				t.Errorf("cpus %d levels %d page size %d", r.CPUs, r.PagingLevels, r.PageSize)
			}
			if r.CrashTime != "2025-11-26T04:53:50Z" {
				t.Errorf("crash time %q", r.CrashTime)
			}
			if r.KASLR == nil || *r.KASLR != (tc.kaslr != 0) || r.KASLROffset != hex(tc.kaslr) {
				t.Errorf("kaslr %v %q", r.KASLR, r.KASLROffset)
			}
			if r.PhysBase != hex(c.Kernel.PhysBase) || r.DirectMapBase != hex(cfg.Kernel.DirectMapBase) {
				t.Errorf("phys_base %s direct map %s", r.PhysBase, r.DirectMapBase)
			}
			// The text-map PT_LOAD aliases RAM the direct map holds: counted once.
			if r.Memory.TotalBytes != cfg.Kernel.RAMSize || len(r.Memory.Ranges) != 1 ||
				r.Memory.Ranges[0].Start != "0x0" || r.Memory.Ranges[0].End != hex(cfg.Kernel.RAMSize-1) {
				t.Errorf("memory %+v", r.Memory)
			}

			code, text, _ := runCmd(t, "info", path)
			if code != 0 || !strings.Contains(text, "release:        "+cfg.Release) || !strings.Contains(text, "64.00 MiB") {
				t.Errorf("text output (exit %d):\n%s", code, text)
			}
		})
	}
}

func TestInfoBadInput(t *testing.T) {
	dir := t.TempDir()
	c, err := synth.New(synth.Default())
	if err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "truncated")
	if err := os.WriteFile(trunc, c.Image[:40], 0o600); err != nil {
		t.Fatal(err)
	}
	notELF := filepath.Join(dir, "notelf")
	if err := os.WriteFile(notELF, bytes.Repeat([]byte("x"), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{trunc, trunc},
		{notELF, "offset 0x0"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		code, _, errs := runCmd(t, "info", tc.path)
		if code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("info %s: exit %d, stderr %q, want it to mention %q", tc.path, code, errs, tc.want)
		}
	}
	if code, _, _ := runCmd(t, "info"); code != 2 {
		t.Errorf("info without a dump: exit %d, want 2", code)
	}
}

// info reads the dumps the collector writes as well as ELF vmcores, and tells how they
// were filtered; the kernel facts must be the same as the ELF original's.
func TestInfoKdumpCompressed(t *testing.T) {
	cfg := synth.Default()
	if err := cfg.AddCrash(); err != nil { // the log and symbol tables survive filtering
		t.Fatal(err)
	}
	c, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	elfPath, err := c.WriteFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, flat := range []bool{false, true} {
		out := filepath.Join(dir, fmt.Sprintf("dump-%v", flat))
		args := []string{"dump", "-l", "-d", "1", elfPath, out}
		if flat {
			args = []string{"dump", "-F", "-l", "-d", "1", elfPath}
		}
		var o, e bytes.Buffer
		if code := run(context.Background(), append([]string{"gokdump"}, args...), &o, &e); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, e.String())
		}
		if flat {
			if err := os.WriteFile(out, o.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, want, _ := runCmd(t, "info", "--json", elfPath)
		code, got, errs := runCmd(t, "info", "--json", out)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var rw, rg crashinfo.DumpInfo
		if err := json.Unmarshal([]byte(want), &rw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(got), &rg); err != nil {
			t.Fatal(err)
		}
		if rg.Format != "kdump-compressed" || rg.Flattened != flat || rg.Dump == nil ||
			rg.Dump.DumpLevel != 1 || rg.Dump.Compression != "lzo" || rg.Dump.DumpedPages == 0 {
			t.Errorf("flattened=%v: format %q flattened %v dump %+v", flat, rg.Format, rg.Flattened, rg.Dump)
		}
		if len(rg.Warnings) != 0 {
			t.Errorf("warnings: %q", rg.Warnings)
		}
		if rg.Crash == nil || rg.Crash.Signature != rw.Crash.Signature || len(rg.CPURegisters) == 0 || rg.CPURegisters[0].Symbol == "" {
			t.Errorf("flattened=%v: crash %+v registers %+v: the log or the symbol tables were lost", flat, rg.Crash, rg.CPURegisters)
		}
		// What the kernel was is the same whatever the dump's format.
		rg.File, rg.Format, rg.Flattened, rg.Dump = rw.File, rw.Format, rw.Flattened, rw.Dump
		// The kdump format keeps the pages, not the ELF PT_LOADs: zero pages at the
		// end of memory are kept, so the ranges are the same.
		if !reflect.DeepEqual(rg, rw) {
			t.Errorf("flattened=%v: info of the kdump-compressed dump\n%+v\ndiffers from the ELF original's\n%+v", flat, rg, rw)
		}
	}
}

// TestNoOperands: the commands that take only flags refuse an operand with their
// usage and exit status 2, before doing anything.
func TestNoOperands(t *testing.T) {
	for _, args := range [][]string{
		{"list", "bogus"}, {"status", "bogus"}, {"estimate", "bogus"}, {"start", "bogus"},
		{"stop", "bogus"}, {"restart", "bogus"}, {"init", "bogus"},
		{"initramfs", "-o", filepath.Join(t.TempDir(), "img"), "bogus"},
		{"list", "--dir", t.TempDir(), "bogus"},
	} {
		code, _, stderr := runCmd(t, args...)
		if code != 2 || !strings.Contains(stderr, "Usage: gokdump "+args[0]) {
			t.Errorf("gokdump %s: exit %d, stderr %q; want 2 and the usage", strings.Join(args, " "), code, stderr)
		}
	}
}
