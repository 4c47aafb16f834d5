package lab

import (
	"bytes"
	"debug/elf"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/vmcore"
)

// TestELFRealCrash holds our ELF dump (-E -d 31) of each real crash to makedumpfile
// 1.7.2's ELF dump of the same vmcore:
//   - both lay out their PT_LOADs by the same rule (elfLayout) from the pages each
//     keeps, which is checked on makedumpfile's own file as well as on ours;
//   - on 6.1, where both keep the same pages, the program headers are the same
//     (type, paddr, vaddr, filesz, memsz; only the offsets differ) and every page of
//     every PT_LOAD reads back the same through our reader;
//   - on every kernel, each page of ours reads back as the vmcore's page where our
//     file holds it and as zeros where it is in a PT_LOAD's zero-filled tail, never as
//     a hole; a page that both files hold is the same in both.
func TestELFRealCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	mdf := testenv.NeedTool(t, "makedumpfile", "makedumpfile")
	for _, v := range labVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			res := crashFor(t, v)
			checkELFDumps(t, guestGokdump(t), mdf, res.Vmcore, v.kernel == testenv.Kernel61)
		})
	}
}

// checkELFDumps runs gokdump dump -E -d 31 (bin) and makedumpfile -E -d 31 (mdf) on
// vmcorePath and holds the two up to each other; same says both keep the same pages.
func checkELFDumps(t *testing.T, bin, mdf, vmcorePath string, same bool) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }

	run(t, bin, "dump", "-E", "--message-level", "1", "-d", "31", vmcorePath, path("ours.elf"))
	run(t, mdf, "-E", "--message-level", "1", "-d", "31", vmcorePath, path("makedumpfile.elf"))
	oursHdr, refHdr := progHeaders(t, path("ours.elf")), progHeaders(t, path("makedumpfile.elf"))
	t.Logf("PT_LOADs: ours %d, makedumpfile's %d", len(loadsOf(oursHdr)), len(loadsOf(refHdr)))

	// The pages each tool keeps in ELF form: its kdump-compressed dump's 2nd
	// bitmap at the same level, less the zero pages (which an ELF dump leaves
	// out, while a kdump-compressed one keeps their bit for its shared zero page).
	run(t, bin, "dump", "-l", "--message-level", "1", "-d", "31", vmcorePath, path("ours.lzo"))
	run(t, mdf, "-l", "--message-level", "1", "-d", "31", vmcorePath, path("makedumpfile.lzo"))
	src := openDump(t, vmcorePath)
	zero := zeroPages(t, src)
	for _, c := range []struct {
		who, kdump string
		hdr        []elf.ProgHeader
	}{{"ours", path("ours.lzo"), oursHdr}, {"makedumpfile's", path("makedumpfile.lzo"), refHdr}} {
		kd := openDump(t, c.kdump)
		kept := func(pfn uint64) bool {
			ok, err := kd.PageDumped(pfn)
			if err != nil {
				t.Fatal(err)
			}
			return ok && !zero[pfn]
		}
		if got, want := phdrString(loadsOf(c.hdr)), phdrString(elfLayout(src.Loads, kept)); got != want {
			t.Errorf("%s PT_LOADs are not laid out by makedumpfile's rule for the pages it keeps:\n%s",
				c.who, firstDifference(got, want))
		}
	}
	if same {
		if got, want := phdrString(oursHdr), phdrString(refHdr); got != want {
			t.Errorf("program headers differ from makedumpfile's:\n%s", firstDifference(got, want))
		}
	}

	ours, ref := openDump(t, path("ours.elf")), openDump(t, path("makedumpfile.elf"))
	compareELFPages(t, src, ours, ref, same)
}

// progHeaders returns the program headers of an ELF file.
func progHeaders(t *testing.T, path string) []elf.ProgHeader {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []elf.ProgHeader
	for _, p := range f.Progs {
		out = append(out, p.ProgHeader)
	}
	return out
}

func loadsOf(ph []elf.ProgHeader) []elf.ProgHeader {
	var out []elf.ProgHeader
	for _, p := range ph {
		if p.Type == elf.PT_LOAD {
			out = append(out, p)
		}
	}
	return out
}

// phdrString prints the fields both tools must agree on, one header a line (the offsets
// and the PT_NOTE's size may differ).
func phdrString(ph []elf.ProgHeader) string {
	var b strings.Builder
	for _, p := range ph {
		if p.Type == elf.PT_NOTE {
			fmt.Fprintf(&b, "%v\n", p.Type)
			continue
		}
		fmt.Fprintf(&b, "%v paddr %#x vaddr %#x filesz %#x memsz %#x\n", p.Type, p.Paddr, p.Vaddr, p.Filesz, p.Memsz)
	}
	return b.String()
}

// elfLayout is the rule makedumpfile -E (write_elf_pages_cyclic) follows, page by page,
// for the pfns for which kept is true: each source PT_LOAD is cut where 256 or more
// left-out pages are followed by a kept one; each piece's file data runs to its last
// kept page (shorter runs of left-out pages are written) and its memory to the next
// piece (the last one's to the end of the source PT_LOAD); vaddr moves with paddr. A
// partial first page is always written.
func elfLayout(segs []vmcore.Segment, kept func(pfn uint64) bool) []elf.ProgHeader {
	const ps = 4096
	var out []elf.ProgHeader
	for _, s := range segs {
		end := s.Phys + s.MemSize
		start, fileEnd, left := s.Phys, s.Phys, 0
		emit := func(memEnd uint64) {
			out = append(out, elf.ProgHeader{Type: elf.PT_LOAD, Paddr: start, Vaddr: s.Virt + (start - s.Phys),
				Filesz: fileEnd - start, Memsz: memEnd - start})
		}
		a := s.Phys
		if a%ps != 0 {
			a = min(a/ps*ps+ps, end)
			fileEnd = a
		}
		for a < end {
			next := min(a/ps*ps+ps, end)
			if !kept(a / ps) {
				left++
			} else {
				if left >= 256 {
					emit(a)
					start = a
				}
				left, fileEnd = 0, next
			}
			a = next
		}
		emit(end)
	}
	return out
}

// zeroPages returns the pfns of the vmcore whose page is all zeros (a partial page
// counts its bytes past the PT_LOAD as zeros).
func zeroPages(t *testing.T, f *vmcore.File) map[uint64]bool {
	t.Helper()
	out := map[uint64]bool{}
	buf := make([]byte, 1<<20)
	for _, l := range f.Loads {
		end := l.Phys + l.FileSize
		for addr := l.Phys; addr < end; {
			// Up to 1 MiB, ending on a page boundary or at the end of the PT_LOAD.
			n := min(uint64(len(buf)), end-addr)
			if e := addr + n; e < end {
				n = e&^4095 - addr
			}
			if _, err := f.ReadPhys(buf[:n], addr); err != nil {
				t.Fatal(err)
			}
			for off := uint64(0); off < n; {
				k := min(n-off, ((addr+off)|4095)+1-(addr+off))
				pfn := (addr + off) / 4096
				z := isZeroPage(buf[off : off+k])
				if prev, seen := out[pfn]; seen {
					z = z && prev // a page held in parts, or by two PT_LOADs
				}
				out[pfn] = z
				off += k
			}
			addr += n
		}
	}
	return out
}

func isZeroPage(p []byte) bool {
	for _, b := range p {
		if b != 0 {
			return false
		}
	}
	return true
}

// compareELFPages reads every page of every source PT_LOAD from our ELF dump, from
// makedumpfile's and from the vmcore. Each dump's page is the vmcore's where that dump's
// PT_LOADs hold file data for it, zeros elsewhere (never a hole); where both hold it
// they agree. With same, no page may be held by one dump only.
func compareELFPages(t *testing.T, src, ours, ref *vmcore.File, same bool) {
	t.Helper()
	const chunk = 1 << 20
	a, b, want := make([]byte, chunk), make([]byte, chunk), make([]byte, chunk)
	var pages, held, onlyOne uint64
	bad := 0
	for _, l := range src.Loads {
		end := l.Phys + l.MemSize
		for addr := l.Phys; addr < end; {
			n := min(uint64(chunk), end-addr)
			if _, err := src.ReadPhys(want[:n], addr); err != nil {
				t.Fatalf("vmcore: %v", err)
			}
			if _, err := ours.ReadPhys(a[:n], addr); err != nil {
				t.Fatalf("our ELF dump: %v (every page of a source PT_LOAD must read, as zeros if left out)", err)
			}
			if _, err := ref.ReadPhys(b[:n], addr); err != nil {
				t.Fatalf("makedumpfile's ELF dump: %v", err)
			}
			// Page by page (the first and last may be partial).
			for off := uint64(0); off < n; {
				pa := addr + off
				k := min(n-off, (pa|4095)+1-pa)
				inOurs, inRef := hasFileData(ours, pa), hasFileData(ref, pa)
				pw, po, pr := want[off:off+k], a[off:off+k], b[off:off+k]
				check := func(who string, in bool, got []byte) {
					exp := pw
					if !in {
						exp = make([]byte, k)
					}
					if !bytes.Equal(got, exp) && bad < 10 {
						t.Errorf("%s ELF dump, physical %#x (file data %v): not the expected contents", who, pa, in)
						bad++
					}
				}
				check("our", inOurs, po)
				check("makedumpfile's", inRef, pr)
				if inOurs && inRef && !bytes.Equal(po, pr) && bad < 10 {
					t.Errorf("physical %#x: our page differs from makedumpfile's", pa)
					bad++
				}
				if inOurs != inRef {
					onlyOne++
				}
				if inOurs {
					held++
				}
				pages++
				off += k
			}
			addr += n
		}
	}
	t.Logf("compared %d pages: %d with file data in ours, %d held by one dump only", pages, held, onlyOne)
	if held == 0 {
		t.Error("our ELF dump holds no page")
	}
	if same && onlyOne != 0 {
		t.Errorf("%d pages are held by one dump only, want none", onlyOne)
	}
}

// hasFileData reports whether some PT_LOAD of f has file data (not its zero-filled
// tail) for physical address pa.
func hasFileData(f *vmcore.File, pa uint64) bool {
	for _, l := range f.Loads {
		if l.Phys <= pa && pa < l.Phys+l.FileSize {
			return true
		}
	}
	return false
}
