package collector

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/vmcore"
)

// FuzzCollectStructPages writes arbitrary bytes over struct pages of the test machine
// (a damaged or hostile mem_map) and collects it: the collection must end, without an
// error (unreadable or absurd struct pages are kept), in a dump that reads back.
func FuzzCollectStructPages(f *testing.F) {
	k := newTestKernel(f, profile612)
	base := k.open(f)
	var off uint64
	for _, l := range base.Loads {
		if l.Phys <= memmapPhys && memmapPhys < l.Phys+l.FileSize && l.Virt < 0xffffffff80000000 {
			off = l.Offset + memmapPhys - l.Phys
		}
	}
	if off == 0 {
		f.Fatal("no direct-map PT_LOAD holds the struct pages")
	}
	orig := bytes.Clone(k.image)
	sp := func(words ...uint64) []byte {
		b := make([]byte, 64)
		for i, w := range words {
			binary.LittleEndian.PutUint64(b[i*8:], w)
		}
		return b
	}
	f.Add(sp(0, 0, 0, 0, 0, 40, 0xf0000000_00000000), uint16(0))            // buddy of order 40
	f.Add(append(sp(1<<6), sp(0xff, 0xffffea0000000001)...), uint16(64*16)) // compound head of order 255
	f.Add(sp(0, 0xffffea0000000000+0x7ff*64+1), uint16(64*2))               // tail pointing at itself
	f.Add(bytes.Repeat([]byte{0xff}, 640), uint16(64*512-320))              // all ones across a window
	f.Fuzz(func(t *testing.T, data []byte, at uint16) {
		img := k.image
		pos := off + (pfnFree9-64)*64 + uint64(at)
		n := copy(img[pos:pos+uint64(min(len(data), 8192))], data)
		defer copy(img[pos:pos+uint64(n)], orig[pos:pos+uint64(n)])
		src, err := vmcore.NewFile(bytes.NewReader(img), int64(len(img)), "fuzzed")
		if err != nil {
			t.Fatal(err)
		}
		dst := &memFile{}
		st, err := Collect(context.Background(), src, dst, Options{DumpLevel: 31, Codec: compress.None, WindowPFNs: 512, Threads: 2})
		if err != nil {
			t.Fatalf("damaged struct pages: %v", err)
		}
		out, err := vmcore.NewFile(bytes.NewReader(dst.bytes()), int64(len(dst.bytes())), "out")
		if err != nil {
			t.Fatalf("the dump does not open: %v", err)
		}
		if n, err := out.DumpedPages(); err != nil || n != st.DumpedPages {
			t.Fatalf("dump has %d pages (%v), stats say %d", n, err, st.DumpedPages)
		}
	})
}
