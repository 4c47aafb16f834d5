package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/lab/plan"
	"github.com/gokdump/gokdump/mm"
	"github.com/gokdump/gokdump/vmcore"
)

// TestCollectRealCrash runs the collector on each real crash and holds its output up to
// Debian's makedumpfile 1.7.2 and to the tools that read dumps:
//   - at -d 31 our dump keeps the same pages as makedumpfile's, except where a rule
//     below says why not;
//   - every page our dump keeps equals the vmcore's page;
//   - makedumpfile reads our file: --dump-dmesg gives vmcore-dmesg's output of the
//     original, and refiltering our file works;
//   - libkdumpfile reads our pages back equal, for every codec.
func TestCollectRealCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	mdf := testenv.NeedTool(t, "makedumpfile", "makedumpfile")
	vmd := testenv.NeedTool(t, "vmcore-dmesg", "kexec-tools")
	for _, v := range labVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			res := crashFor(t, v)
			bin := guestGokdump(t)
			dir := t.TempDir()

			ours := filepath.Join(dir, "ours.lzo")
			run(t, bin, "dump", "-l", "--message-level", "1", "-d", "31", res.Vmcore, ours)
			ref := filepath.Join(dir, "makedumpfile.lzo")
			run(t, mdf, "-l", "--message-level", "1", "-d", "31", res.Vmcore, ref)
			both := compareWithMakedumpfile(t, v, res.Vmcore, ours, ref)
			checkWorkloadFiltered(t, res.Vmcore, ours, ref)
			checkKeptPages(t, res.Vmcore, ours)

			// makedumpfile reads our file: the kernel log it finds there is the one it
			// finds in the original (its --dump-dmesg indents the continuation lines
			// of a record, which vmcore-dmesg does not, so the reference is
			// makedumpfile on the vmcore; TestDmesgRealCrash holds gokdump dmesg to
			// vmcore-dmesg), and it can filter our file again.
			wantLog := filepath.Join(dir, "dmesg.vmcore")
			run(t, mdf, "--dump-dmesg", res.Vmcore, wantLog)
			want, err := os.ReadFile(wantLog)
			if err != nil {
				t.Fatal(err)
			}
			vd := run(t, vmd, res.Vmcore)
			if len(want) < len(vd) || !bytes.HasPrefix(want, vd[:bytes.IndexByte(vd, '\n')+1]) {
				t.Fatalf("makedumpfile --dump-dmesg of the vmcore does not look like the kernel log vmcore-dmesg gives:\n%.300s", want)
			}
			// kdump-tools saves the log with makedumpfile --dump-dmesg: ours writes the
			// same bytes, from the vmcore and from our -d 31 dump.
			for _, in := range []string{res.Vmcore, ours} {
				log := filepath.Join(dir, "gokdump-dump-dmesg."+filepath.Base(in))
				run(t, bin, "dump", "--dump-dmesg", in, log)
				if got, err := os.ReadFile(log); err != nil || !bytes.Equal(got, want) {
					t.Errorf("gokdump dump --dump-dmesg %s differs from makedumpfile --dump-dmesg of the vmcore (%d vs %d bytes, %v)",
						filepath.Base(in), len(got), len(want), err)
				}
			}
			// The log's pages survive the strongest filtering: gokdump dmesg of our
			// -d 31 dump is vmcore-dmesg of the vmcore, byte for byte.
			if got := run(t, bin, "dmesg", ours); !bytes.Equal(got, vd) {
				t.Errorf("gokdump dmesg of our -d 31 dump differs from vmcore-dmesg of the vmcore (%d vs %d bytes)", len(got), len(vd))
			}
			for _, c := range []struct{ flag, name string }{{"-c", "zlib"}, {"-l", "lzo"}} {
				file := ours
				if c.name != "lzo" {
					file = filepath.Join(dir, "ours."+c.name)
					run(t, bin, "dump", c.flag, "-d", "31", res.Vmcore, file)
				}
				log := filepath.Join(dir, "dmesg."+c.name)
				run(t, mdf, "--dump-dmesg", file, log)
				got, err := os.ReadFile(log)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("makedumpfile --dump-dmesg of our %s dump differs from its output for the vmcore (%d vs %d bytes)",
						c.name, len(got), len(want))
				}
				refiltered := filepath.Join(dir, "refiltered."+c.name)
				run(t, mdf, "-c", "--message-level", "1", "-d", "31", file, refiltered)
				// Refiltering keeps what both of us keep (all of ours, but on 6.12,
				// where makedumpfile 1.7.2 drops slab pages it takes for anonymous).
				if n := dumpedPages(t, refiltered); n != both {
					t.Errorf("makedumpfile refiltered our %s dump at the same level to %d pages, want the %d pages both keep", c.name, n, both)
				}
			}

			// libkdumpfile (what crash's and drgn's readers build on) for every codec,
			// makedumpfile 1.7.2 being built without snappy and zstd.
			py := needLibkdumpfile(t)
			for _, c := range []struct{ flag, name string }{{"-c", "zlib"}, {"-l", "lzo"}, {"-p", "snappy"}, {"-z", "zstd"}} {
				file := filepath.Join(dir, "ours."+c.name)
				if _, err := os.Stat(file); err != nil {
					run(t, bin, "dump", c.flag, "-d", "31", res.Vmcore, file)
				}
				checkLibkdumpfile(t, py, res.Vmcore, file)
			}
		})
	}
}

// run runs a program and returns its standard output; a non-zero exit fails the test.
func run(t *testing.T, prog string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(prog, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

func openDump(t *testing.T, path string) *vmcore.File {
	t.Helper()
	f, err := vmcore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func dumpedPages(t *testing.T, path string) uint64 {
	t.Helper()
	n, err := openDump(t, path).DumpedPages()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// compareWithMakedumpfile compares the 2nd bitmaps (the pages each dump keeps) and
// returns how many pages both keep. On 6.1 they must be the same. Debian's makedumpfile
// 1.7.2 predates 6.12's struct page changes (slab and page types moved into page_type;
// fixed in makedumpfile 1.7.6/1.7.7), and two differences follow, each asserted here by
// our type of the page, while checkWorkloadFiltered proves ours right on known pages:
//   - it drops slab pages that we keep: with no PG_slab in 6.12 it cannot tell a slab,
//     and takes one whose struct slab word at page.mapping is odd for an anonymous page;
//   - it keeps anonymous (user) pages that we drop, the workload's among them.
func compareWithMakedumpfile(t *testing.T, v labVariant, vmcorePath, oursPath, refPath string) (both uint64) {
	src, ours, ref := openDump(t, vmcorePath), openDump(t, oursPath), openDump(t, refPath)
	if ours.Kdump == nil || ref.Kdump == nil {
		t.Fatalf("not kdump-compressed: ours %v, makedumpfile %v", ours.Format, ref.Format)
	}
	maxPFN := max(ours.Kdump.MaxMapnr, ref.Kdump.MaxMapnr)
	var onlyOurs, onlyRef []uint64
	for pfn := uint64(0); pfn < maxPFN; pfn++ {
		a, err := ours.PageDumped(pfn)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ref.PageDumped(pfn)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case a && !b:
			onlyOurs = append(onlyOurs, pfn)
		case b && !a:
			onlyRef = append(onlyRef, pfn)
		case a:
			both++
		}
	}
	t.Logf("-d 31: both keep %d pages; only ours %d; only makedumpfile %d (max_mapnr %d vs %d)",
		both, len(onlyOurs), len(onlyRef), ours.Kdump.MaxMapnr, ref.Kdump.MaxMapnr)
	if ours.Kdump.MaxMapnr != ref.Kdump.MaxMapnr {
		t.Errorf("max_mapnr: ours %d, makedumpfile %d", ours.Kdump.MaxMapnr, ref.Kdump.MaxMapnr)
	}
	if both == 0 {
		t.Fatal("the dumps have no page in common")
	}
	types := classify(t, src, append(append([]uint64(nil), onlyOurs...), onlyRef...))
	describe := func(pfns []uint64) string {
		count := map[mm.PageType]int{}
		for _, p := range pfns {
			count[types[p]]++
		}
		return fmt.Sprint(count)
	}
	allowOurs, allowRef := mm.PageType(255), mm.PageType(255) // no difference allowed
	if v.kernel == testenv.Kernel612 {
		allowOurs, allowRef = mm.Slab, mm.User
	}
	check := func(pfns []uint64, allowed mm.PageType, what string) {
		for _, p := range pfns {
			if types[p] != allowed {
				t.Errorf("%d pages %s, by our type: %s (first pfn %#x)", len(pfns), what, describe(pfns), pfns[0])
				return
			}
		}
	}
	check(onlyOurs, allowOurs, "kept by us and left out by makedumpfile")
	check(onlyRef, allowRef, "kept by makedumpfile and left out by us")
	return both
}

// checkWorkloadFiltered holds our -d 31 dump to the truth the guest planted: every page
// of its anonymous workload (process memory, marked plan.MarkerAnon) and of its tmpfs
// file (page cache, plan.MarkerPageCache) is in the vmcore and left out of our dump.
//
// One exception, from the kernel rather than from us: a page in flight when the kernel
// crashed (isolated from the LRU for migration, or still in a CPU's batch of pages to
// add to it) is, by its struct page, neither cache nor user memory, and is kept. A
// make test under load once found 65 such page-cache pages of 33,226 on 6.1, which
// makedumpfile kept as well. So a marked page may be kept only when makedumpfile's dump
// (refPath) keeps it too, and no more than 1% of them.
func checkWorkloadFiltered(t *testing.T, vmcorePath, dumpPath, refPath string) {
	src, d, ref := openDump(t, vmcorePath), openDump(t, dumpPath), openDump(t, refPath)
	for _, marker := range []string{plan.MarkerAnon, plan.MarkerPageCache} {
		pfns := markedPFNs(t, src, marker)
		if want := workloadMiB << 20 / 4096; len(pfns) < want {
			t.Errorf("the vmcore has %d pages marked %q, want at least %d", len(pfns), marker, want)
		}
		kept, onlyOurs := 0, 0
		for _, p := range pfns {
			if ok, err := d.PageDumped(p); err != nil {
				t.Fatal(err)
			} else if ok {
				kept++
				if refKeeps, err := ref.PageDumped(p); err != nil {
					t.Fatal(err)
				} else if !refKeeps {
					onlyOurs++
				}
			}
		}
		switch {
		case onlyOurs != 0 || kept*100 > len(pfns):
			t.Errorf("our -d 31 dump keeps %d of the %d workload pages marked %q (%d of them left out by makedumpfile)",
				kept, len(pfns), marker, onlyOurs)
		case kept != 0:
			t.Logf("%d of the %d workload pages marked %q were in flight at the crash: kept by us and by makedumpfile",
				kept, len(pfns), marker)
		}
	}
}

// markedPFNs returns the pfns of the vmcore's pages that start with marker.
func markedPFNs(t *testing.T, f *vmcore.File, marker string) []uint64 {
	var out []uint64
	buf := make([]byte, 1<<20)
	for _, l := range f.Loads {
		if l.Virt >= 0xffffffff80000000 { // the kernel text alias of the direct map
			continue
		}
		for addr := l.Phys; addr < l.Phys+l.FileSize; addr += uint64(len(buf)) {
			n := min(uint64(len(buf)), l.Phys+l.FileSize-addr)
			if _, err := f.ReadPhys(buf[:n], addr); err != nil {
				t.Fatal(err)
			}
			for off := uint64(0); off+uint64(len(marker)) <= n; off += 4096 {
				if bytes.HasPrefix(buf[off:n], []byte(marker)) {
					out = append(out, (addr+off)/4096)
				}
			}
		}
	}
	return out
}

// classify returns our page type of each pfn.
func classify(t *testing.T, f *vmcore.File, pfns []uint64) map[uint64]mm.PageType {
	out := map[uint64]mm.PageType{}
	if len(pfns) == 0 {
		return out
	}
	info, err := f.VMCOREINFO()
	if err != nil {
		t.Fatal(err)
	}
	syms := mmSymbols{info}
	layout, err := mm.NewLayout(syms)
	if err != nil {
		t.Fatal(err)
	}
	as, err := kernel.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	mem := struct {
		*vmcore.File
		virt
	}{f, virt{as.ReadVirt}}
	var maxPFN uint64
	for _, l := range f.Loads {
		maxPFN = max(maxPFN, (l.Phys+l.MemSize+4095)/4096)
	}
	secs, err := mm.ReadSections(layout, mem, maxPFN)
	if err != nil {
		t.Fatal(err)
	}
	c := mm.NewClassifier(layout, mem, secs)
	for _, p := range pfns {
		c.Classify(p, p+1, 31, func(pfn, n uint64, typ mm.PageType) { out[pfn] = typ })
	}
	return out
}

type virt struct {
	read func(p []byte, vaddr uint64) (int, error)
}

func (v virt) ReadVirt(p []byte, vaddr uint64) (int, error) { return v.read(p, vaddr) }

// mmSymbols is VMCOREINFO as mm wants it (signed sizes and offsets).
type mmSymbols struct{ v *vmcore.VMCOREINFO }

func (s mmSymbols) Symbol(n string) (uint64, bool) { return s.v.Symbol(n) }
func (s mmSymbols) Number(n string) (int64, bool)  { return s.v.Number(n) }
func (s mmSymbols) Size(n string) (int64, bool)    { x, ok := s.v.Size(n); return int64(x), ok }
func (s mmSymbols) Offset(n string) (int64, bool)  { x, ok := s.v.Offset(n); return int64(x), ok }
func (s mmSymbols) Length(n string) (int64, bool)  { x, ok := s.v.Length(n); return int64(x), ok }

// checkKeptPages reads every page our dump keeps and compares it with the vmcore's.
func checkKeptPages(t *testing.T, vmcorePath, dumpPath string) {
	src, d := openDump(t, vmcorePath), openDump(t, dumpPath)
	a, b := make([]byte, 4096), make([]byte, 4096)
	var n uint64
	for pfn := uint64(0); pfn < d.Kdump.MaxMapnr; pfn++ {
		ok, err := d.PageDumped(pfn)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		if _, err := d.ReadPhys(a, pfn*4096); err != nil {
			t.Fatalf("our dump, pfn %#x: %v", pfn, err)
		}
		if _, err := src.ReadPhys(b, pfn*4096); err != nil {
			t.Fatalf("vmcore, pfn %#x (kept by our dump): %v", pfn, err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("pfn %#x: our dump's page differs from the vmcore's", pfn)
		}
		n++
	}
	if want := dumpedPages(t, dumpPath); n != want {
		t.Errorf("read %d kept pages, the dump says %d", n, want)
	}
}

func needLibkdumpfile(t *testing.T) string {
	return testenv.NeedPythonModule(t, "kdumpfile", "python3-libkdumpfile")
}

// libkdumpfileRead reads the pages whose pfns are listed (one per line) in argv[2] from the
// dump argv[1] with libkdumpfile, and writes them to argv[3], 4096 bytes each; a page it
// cannot read fails the script.
const libkdumpfileRead = `
import sys, kdumpfile
k = kdumpfile.kdumpfile(sys.argv[1])
k.attr['addrxlat.ostype'] = 'linux'
with open(sys.argv[2]) as pfns, open(sys.argv[3], 'wb') as out:
    for line in pfns:
        pfn = int(line)
        out.write(bytes(k.read(kdumpfile.KDUMP_KPHYSADDR, pfn * 4096, 4096)))
print(k.attr['file.format'], k.attr['linux.uts.release'])
`

// checkLibkdumpfile has libkdumpfile read a spread of the pages our dump keeps (every
// 7th, a few thousand pages) and compares them with the vmcore's.
func checkLibkdumpfile(t *testing.T, py, vmcorePath, dumpPath string) {
	src := openDump(t, vmcorePath)
	info, _ := src.VMCOREINFO()
	rel, _ := info.OSRelease()
	libkdumpfileAgrees(t, py, openDump(t, dumpPath), dumpPath, rel, src)
}

// libkdumpfileAgrees has libkdumpfile open the dump d (at dumpPath), say it is a
// diskdump of release, and read every 7th page the dump keeps; each must equal the
// page ref reads (the vmcore, or the dump itself through gokdump's reader).
func libkdumpfileAgrees(t *testing.T, py string, d *vmcore.File, dumpPath, release string, ref *vmcore.File) {
	t.Helper()
	var pfns []uint64
	var list bytes.Buffer
	seen := 0
	for pfn := uint64(0); pfn < d.Kdump.MaxMapnr; pfn++ {
		if ok, err := d.PageDumped(pfn); err != nil {
			t.Fatal(err)
		} else if ok {
			if seen%7 == 0 {
				pfns = append(pfns, pfn)
				fmt.Fprintln(&list, pfn)
			}
			seen++
		}
	}
	dir := t.TempDir()
	listFile, pagesFile := filepath.Join(dir, "pfns"), filepath.Join(dir, "pages")
	if err := os.WriteFile(listFile, list.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out := run(t, py, "-c", libkdumpfileRead, dumpPath, listFile, pagesFile)
	if want := "diskdump " + release + "\n"; string(out) != want {
		t.Errorf("libkdumpfile on %s says %q, want %q", filepath.Base(dumpPath), out, want)
	}
	got, err := os.ReadFile(pagesFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(pfns)*4096 {
		t.Fatalf("libkdumpfile read %d bytes, want %d pages", len(got), len(pfns))
	}
	page := make([]byte, 4096)
	for i, pfn := range pfns {
		if _, err := ref.ReadPhys(page, pfn*4096); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[i*4096:(i+1)*4096], page) {
			t.Fatalf("%s: libkdumpfile's pfn %#x differs from the vmcore's", filepath.Base(dumpPath), pfn)
		}
	}
}
