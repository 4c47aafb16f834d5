package lab

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/gokdump/gokdump/internal/testenv"
)

// TestAssembleRealCrash proves "gokdump assemble" on a real crash: the guest's RAM is a
// host file, and after the crash and capture the assembler turns that file and the
// elfcorehdr= address of the capture kernel's command line into a vmcore that equals
// what the capture kernel's /proc/vmcore gave: the same notes, the same PT_LOADs, the
// same bytes in every page, and the same answers from "gokdump info" and "gokdump
// dmesg".
//
// The RAM file holds the crashed kernel's memory as the capture kernel left it. The
// capture kernel runs inside the crashkernel reservation, which no PT_LOAD describes,
// so every page the vmcore holds must be as the crashed kernel left it.
func TestAssembleRealCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a QEMU guest (minutes); not in -short")
	}
	testenv.NeedTool(t, QEMU, "qemu-system-x86")
	b := labBinaries(t)
	bin := b.Gokdump
	k := testenv.KernelPackage(t, testenv.Kernel61)
	dir := t.TempDir()
	ram := filepath.Join(dir, "ram.img")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// 1 GiB: guest RAM is then one range from address 0 (no PCI hole below 4 GiB),
	// so the RAM file's offsets are physical addresses.
	res, err := Crash(ctx, Config{
		Kernel: k, Binaries: b, Dir: dir, CPU: "max", KASLR: true,
		MemoryMiB: 1024, PageCacheMiB: workloadMiB, AnonMiB: workloadMiB,
		MemoryFile: ram,
	})
	if res != nil {
		t.Logf("VM ran %s; console %s", res.Elapsed.Round(time.Second), res.ConsoleLog)
	}
	if err != nil {
		if res != nil {
			t.Logf("console tail:\n%s", ConsoleTail(res.ConsoleLog, 80))
		}
		t.Fatal(err)
	}
	if st, err := os.Stat(ram); err != nil || st.Size() != 1024<<20 {
		t.Fatalf("RAM file %s: %v, %d bytes; want 1 GiB", ram, err, st.Size())
	}

	m := regexp.MustCompile(`(?:^| )elfcorehdr=(\S+)`).FindStringSubmatch(res.CaptureCmdline)
	if m == nil {
		t.Fatalf("capture command line %q has no elfcorehdr=", res.CaptureCmdline)
	}
	// As the original program was run: the address in the elfcorehdr environment
	// variable (the capture kernel hands unknown name=value words to init that way).
	out := filepath.Join(dir, "assembled")
	cmd := exec.Command(bin, "assemble", "--mem", ram, "-o", out)
	cmd.Env = append(os.Environ(), "elfcorehdr="+m[1])
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gokdump assemble elfcorehdr=%s: %v\n%s", m[1], err, msg)
	}
	t.Logf("assembled %s from %s at elfcorehdr=%s", out, ram, m[1])

	compareNotes(t, res.Vmcore, out)
	comparePages(t, res.Vmcore, out)

	// gokdump info and dmesg tell the same about both.
	infoOf := func(path string) map[string]any {
		o, err := exec.Command(bin, "info", "--json", path).Output()
		if err != nil {
			t.Fatalf("gokdump info %s: %v", path, err)
		}
		var r map[string]any
		if err := json.Unmarshal(o, &r); err != nil {
			t.Fatal(err)
		}
		delete(r, "file")
		return r
	}
	if a, b := infoOf(out), infoOf(res.Vmcore); !reflect.DeepEqual(a, b) {
		t.Errorf("gokdump info differs:\nassembled %v\n/proc/vmcore %v", a, b)
	}
	dmesgA := run(t, bin, "dmesg", out)
	dmesgV := run(t, bin, "dmesg", res.Vmcore)
	if !bytes.Equal(dmesgA, dmesgV) || !bytes.Contains(dmesgA, []byte("sysrq: Trigger a crash")) {
		t.Errorf("gokdump dmesg differs (%d vs %d bytes) or lacks the crash", len(dmesgA), len(dmesgV))
	}
}

// elfProgs returns the program headers of an ELF core of the given type.
func elfProgs(f *elf.File, typ elf.ProgType) []*elf.Prog {
	var out []*elf.Prog
	for _, p := range f.Progs {
		if p.Type == typ {
			out = append(out, p)
		}
	}
	return out
}

// compareNotes checks that both cores have one PT_NOTE with the same bytes.
func compareNotes(t *testing.T, want, got string) {
	t.Helper()
	notes := func(path string) []byte {
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ps := elfProgs(f, elf.PT_NOTE)
		if len(ps) != 1 {
			t.Fatalf("%s has %d PT_NOTEs, want 1", path, len(ps))
		}
		b, err := io.ReadAll(ps[0].Open())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := notes(want), notes(got)
	if !bytes.Equal(a, b) {
		t.Errorf("notes differ: /proc/vmcore has %d bytes, the assembled vmcore %d", len(a), len(b))
	} else {
		t.Logf("notes: %d bytes, equal", len(a))
	}
}

// comparePages checks that both cores have the same PT_LOADs and, reading both
// files as streams, the same bytes in every page of each.
func comparePages(t *testing.T, want, got string) {
	t.Helper()
	fw, err := elf.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	fg, err := elf.Open(got)
	if err != nil {
		t.Fatal(err)
	}
	defer fg.Close()
	lw, lg := elfProgs(fw, elf.PT_LOAD), elfProgs(fg, elf.PT_LOAD)
	type seg struct{ Phys, Virt, Filesz, Memsz uint64 }
	segs := func(ps []*elf.Prog) (out []seg) {
		for _, p := range ps {
			out = append(out, seg{p.Paddr, p.Vaddr, p.Filesz, p.Memsz})
		}
		return out
	}
	if !reflect.DeepEqual(segs(lw), segs(lg)) {
		t.Fatalf("PT_LOADs differ:\n/proc/vmcore %x\nassembled    %x", segs(lw), segs(lg))
	}
	var pages, differing uint64
	var first []string
	pa, pb := make([]byte, 4096), make([]byte, 4096)
	for i := range lw {
		ra := bufio.NewReaderSize(lw[i].Open(), 1<<20)
		rb := bufio.NewReaderSize(lg[i].Open(), 1<<20)
		for off := uint64(0); off < lw[i].Filesz; off += 4096 {
			n := min(4096, lw[i].Filesz-off)
			if _, err := io.ReadFull(ra, pa[:n]); err != nil {
				t.Fatalf("%s: PT_LOAD %d at +%#x: %v", want, i, off, err)
			}
			if _, err := io.ReadFull(rb, pb[:n]); err != nil {
				t.Fatalf("%s: PT_LOAD %d at +%#x: %v", got, i, off, err)
			}
			pages++
			if !bytes.Equal(pa[:n], pb[:n]) {
				differing++
				if len(first) < 10 {
					first = append(first, fmt.Sprintf("%#x", lw[i].Paddr+off))
				}
			}
		}
	}
	if differing != 0 {
		t.Errorf("%d of %d pages differ between /proc/vmcore and the assembled vmcore; first at physical %v", differing, pages, first)
	} else {
		t.Logf("%d pages in %d PT_LOADs, all equal", pages, len(lw))
	}
}
