package lab

import (
	"reflect"
	"strings"
	"testing"
)

// A /proc/iomem of a 1.5 GiB QEMU guest with crashkernel=256M (trimmed).
const sampleIomem = `00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-5ffdffff : System RAM
  1b000000-1bc02fff : Kernel code
  4f000000-5effffff : Crash kernel
5ffe0000-5fffffff : Reserved
fd000000-fdffffff : PCI Bus 0000:00
`

func TestParseIomem(t *testing.T) {
	es, err := ParseIomem(strings.NewReader(sampleIomem), "iomem")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 10 {
		t.Fatalf("%d entries, want 10", len(es))
	}
	ram := SystemRAM(es)
	want := []Range{{0x1000, 0x9fc00}, {0x100000, 0x5ffe0000}}
	if !reflect.DeepEqual(ram, want) {
		t.Errorf("SystemRAM = %v, want %v", ram, want)
	}
	ck, ok := Find(es, "Crash kernel")
	if !ok || ck != (Range{0x4f000000, 0x5f000000}) || ck.Size() != 256<<20 {
		t.Errorf("Crash kernel = %v, %v", ck, ok)
	}
	if es[6].Depth != 1 || es[6].Name != "Kernel code" {
		t.Errorf("entry 6 = %+v", es[6])
	}
	got := Subtract(ram, ck)
	want = []Range{{0x1000, 0x9fc00}, {0x100000, 0x4f000000}, {0x5f000000, 0x5ffe0000}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Subtract = %v, want %v", got, want)
	}
	got = Subtract(ram, Range{0, 0x100000})
	want = []Range{{0x100000, 0x5ffe0000}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Subtract(low 1 MiB) = %v, want %v", got, want)
	}
}

func TestParseIomemErrors(t *testing.T) {
	for _, in := range []string{
		"00000000-00000fff Reserved\n",
		"0000000000000fff : Reserved\n",
		"00001000-00000fff : backwards\n",
		"zz-00000fff : x\n",
		"00000000-ffffffffffffffff : all\n",
	} {
		if _, err := ParseIomem(strings.NewReader(in), "iomem"); err == nil || !strings.Contains(err.Error(), "iomem:1") {
			t.Errorf("ParseIomem(%q) err = %v, want one naming iomem:1", in, err)
		}
	}
}
