package vmcore_test

// Interoperability of our kdump-compressed files with the other readers of
// the format: makedumpfile itself and libkdumpfile (which crash's
// successors and drgn use).
//
// makedumpfile's refiltering (makedumpfile -d N OURS OUT) and --dump-dmesg
// need what the synthetic kernel does not have (a SPARSEMEM mem_section
// tree and struct pages, a printk ring buffer): it stops with "get_mem_map:
// Can't distinguish the memory type". --reassemble needs none of that and
// reads every header, bitmap, descriptor and page of its input, so it is
// the makedumpfile check here.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/vmcore"
)

// TestKdumpMakedumpfileReassemble writes a dump as the two parts of a split
// dump, has makedumpfile --reassemble merge them, and reads the result.
func TestKdumpMakedumpfileReassemble(t *testing.T) {
	mdf := testenv.NeedTool(t, "makedumpfile", "makedumpfile")
	s := kdumpTestSource(t)
	for _, codec := range []compress.Codec{compress.LZO, compress.Zstd} {
		t.Run(codec.String(), func(t *testing.T) {
			dir := t.TempDir()
			sp := defaultSpec(codec)
			var parts []string
			for i, r := range [][2]uint64{{0, 0x1803}, {0x1803, s.maxMapnr()}} {
				psp := sp
				psp.split = r
				b := writeKdump(t, psp)
				p := filepath.Join(dir, "part"+string(rune('1'+i)))
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				parts = append(parts, p)

				// Each part alone: its own pages read, the others' are missing.
				f, err := vmcore.NewFile(bytes.NewReader(b), int64(len(b)), p)
				if err != nil {
					t.Fatal(err)
				}
				read, miss := checkKdumpPages(t, f, sp, func(pfn uint64) bool { return !psp.inPart(pfn) })
				if read == 0 || miss == 0 {
					t.Errorf("part %v: %d pages read, %d missing", r, read, miss)
				}
			}
			out := filepath.Join(dir, "reassembled")
			cmd := exec.Command(mdf, append(append([]string{"--reassemble"}, parts...), out)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("makedumpfile --reassemble: %v\n%s", err, b)
			}
			f, err := vmcore.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			checkKdumpHeaders(t, f, sp)
			read, _ := checkKdumpPages(t, f, sp, nil)
			if read < 10000 {
				t.Errorf("only %d pages read", read)
			}
		})
	}
}

// libkdumpfileScript reads the pages named on the command line with
// libkdumpfile and writes, per pfn, 'D' and the page or 'E' and the
// exception's class name padded to 32 bytes.
const libkdumpfileScript = `
import sys, kdumpfile
k = kdumpfile.kdumpfile(sys.argv[1])
k.attr['addrxlat.ostype'] = 'linux'
out = open(sys.argv[2], 'wb')
print(k.attr['file.format'], k.attr['linux.uts.release'], k.attr['arch.name'])
for a in sys.argv[3:]:
    lo, hi = (int(x, 0) for x in a.split('-'))
    for pfn in range(lo, hi):
        try:
            d = k.read(kdumpfile.KDUMP_KPHYSADDR, pfn * 4096, 4096)
            out.write(b'D' + bytes(d))
        except Exception as e:
            out.write(b'E' + type(e).__name__.encode().ljust(32)[:32])
`

func needLibkdumpfile(t *testing.T) string {
	return testenv.NeedPythonModule(t, "kdumpfile", "python3-libkdumpfile")
}

// TestKdumpLibkdumpfile reads our files of every codec with libkdumpfile.
func TestKdumpLibkdumpfile(t *testing.T) {
	py := needLibkdumpfile(t)
	s := kdumpTestSource(t)
	ranges := [][2]uint64{{0, 0x1100}, {0x1ff8, 0x2108}}
	for _, codec := range []compress.Codec{compress.None, compress.Zlib, compress.LZO, compress.Snappy, compress.Zstd} {
		t.Run(codec.String(), func(t *testing.T) {
			dir := t.TempDir()
			sp := defaultSpec(codec)
			in, out := filepath.Join(dir, "dump"), filepath.Join(dir, "pages")
			if err := os.WriteFile(in, writeKdump(t, sp), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"-c", libkdumpfileScript, in, out}
			for _, r := range ranges {
				args = append(args, "0x"+hexs(r[0])+"-0x"+hexs(r[1]))
			}
			b, err := exec.Command(py, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("libkdumpfile: %v\n%s", err, b)
			}
			if want := "diskdump " + s.uts.Release + " x86_64\n"; string(b) != want {
				t.Errorf("libkdumpfile says %q, want %q", b, want)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			pages, errs := 0, 0
			for _, r := range ranges {
				for pfn := r[0]; pfn < r[1]; pfn++ {
					if len(got) == 0 {
						t.Fatal("libkdumpfile output ends early")
					}
					switch got[0] {
					case 'D':
						if len(got) < 1+kdPage || !sp.dumped(s, pfn) || !bytes.Equal(got[1:1+kdPage], s.page(pfn)) {
							t.Fatalf("pfn 0x%x: libkdumpfile read a page that is not the source's (dumped %v)", pfn, sp.dumped(s, pfn))
						}
						got = got[1+kdPage:]
						pages++
					case 'E':
						if sp.dumped(s, pfn) || len(got) < 33 || string(bytes.TrimSpace(got[1:33])) != "NoDataException" {
							t.Fatalf("pfn 0x%x (dumped %v): libkdumpfile: %q", pfn, sp.dumped(s, pfn), got[1:min(len(got), 33)])
						}
						got = got[33:]
						errs++
					default:
						t.Fatal(errors.New("bad script output"))
					}
				}
			}
			if pages == 0 || errs == 0 {
				t.Errorf("%d pages read, %d excluded: want both", pages, errs)
			}
		})
	}
}

func hexs(v uint64) string { return strconv.FormatUint(v, 16) }
