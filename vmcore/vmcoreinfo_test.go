package vmcore_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/vmcore"
)

// realInfo is the shape of a Debian 6.1 x86_64 VMCOREINFO (shortened).
const realInfo = `OSRELEASE=6.1.0-56-amd64
BUILD-ID=5e6f0c0a8a3c39c2b7c4b7c9c52d4f63c3d5a1b2
PAGESIZE=4096
SYMBOL(init_uts_ns)=ffffffffa5a14d60
OFFSET(uts_namespace.name)=0
SYMBOL(node_online_map)=ffffffffa5b3a6c8
SYMBOL(swapper_pg_dir)=ffffffffa5a0a000
SYMBOL(_stext)=ffffffffa3e00000
SYMBOL(vmap_area_list)=ffffffffa5aa5a50
SYMBOL(mem_section)=ffff8d23fffd3000
LENGTH(mem_section)=2048
SIZE(mem_section)=16
OFFSET(mem_section.section_mem_map)=0
NUMBER(SECTION_SIZE_BITS)=27
NUMBER(MAX_PHYSMEM_BITS)=52
SIZE(page)=64
OFFSET(page.flags)=0
OFFSET(page._refcount)=52
NUMBER(PG_lru)=4
NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129
NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257
SYMBOL(init_top_pgt)=ffffffffa5a0a000
NUMBER(pgtable_l5_enabled)=1
NUMBER(phys_base)=-1541406720
KERNELOFFSET=22e00000
NUMBER(KERNEL_IMAGE_SIZE)=1073741824
NUMBER(sme_mask)=0
CRASHTIME=1764132830
`

func TestParseVMCOREINFO(t *testing.T) {
	info, err := vmcore.ParseVMCOREINFO([]byte(realInfo))
	if err != nil {
		t.Fatal(err)
	}
	u := func(v uint64, ok bool) any {
		if !ok {
			return "missing"
		}
		return v
	}
	i := func(v int64, ok bool) any {
		if !ok {
			return "missing"
		}
		return v
	}
	s := func(v string, ok bool) any {
		if !ok {
			return "missing"
		}
		return v
	}
	ct, ok := info.CrashTime()
	checks := []struct {
		what      string
		got, want any
	}{
		{"Symbol(mem_section)", u(info.Symbol("mem_section")), uint64(0xffff8d23fffd3000)},
		{"Symbol(missing)", u(info.Symbol("nope")), "missing"},
		{"Size(page)", u(info.Size("page")), uint64(64)},
		{"Offset(page._refcount)", u(info.Offset("page._refcount")), uint64(52)},
		{"Length(mem_section)", u(info.Length("mem_section")), uint64(2048)},
		{"Number(PAGE_OFFLINE_MAPCOUNT_VALUE)", i(info.Number("PAGE_OFFLINE_MAPCOUNT_VALUE")), int64(-257)},
		{"Number(pgtable_l5_enabled)", i(info.Number("pgtable_l5_enabled")), int64(1)},
		{"Number(page) is not Size(page)", i(info.Number("page")), "missing"},
		{"OSRelease", s(info.OSRelease()), "6.1.0-56-amd64"},
		{"BuildID", s(info.BuildID()), "5e6f0c0a8a3c39c2b7c4b7c9c52d4f63c3d5a1b2"},
		{"PageSize", u(info.PageSize()), uint64(4096)},
		{"KernelOffset", u(info.KernelOffset()), uint64(0x22e00000)},
		{"PhysBase (negative NUMBER)", u(info.PhysBase()), uint64(0xffffffffa4200000)},
		{"CrashTime", ct.Format(time.RFC3339) + map[bool]string{true: "", false: " missing"}[ok], "2025-11-26T04:53:50Z"},
		{"Get(SYMBOL(_stext))", s(info.Get("SYMBOL(_stext)")), "ffffffffa3e00000"},
		{"Get(unknown)", s(info.Get("X")), "missing"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if keys := info.Keys(); len(keys) != strings.Count(realInfo, "\n") || keys[0] != "OSRELEASE" || keys[len(keys)-1] != "CRASHTIME" {
		t.Errorf("Keys = %v", keys)
	}
	if string(info.Raw()) != realInfo {
		t.Errorf("Raw changed")
	}
}

func TestParseVMCOREINFOEdges(t *testing.T) {
	cases := []struct {
		name string
		text string
		key  string // a key to look up with Get
		want string // its value; "" with err set: expect an error instead
		err  string
		off  int64
	}{
		{name: "no trailing newline", text: "A=1\nOSRELEASE=6.12", key: "OSRELEASE", want: "6.12"},
		{name: "no newline at all", text: "OSRELEASE=6.12", key: "OSRELEASE", want: "6.12"},
		{name: "trailing NULs", text: "A=1\nB=2\n\x00\x00\x00", key: "B", want: "2"},
		{name: "empty lines skipped", text: "\nA=1\n\n\nB=2\n", key: "B", want: "2"},
		{name: "first of duplicates wins", text: "A=1\nA=2\n", key: "A", want: "1"},
		{name: "value may contain =", text: "CMDLINE=root=/dev/sda\n", key: "CMDLINE", want: "root=/dev/sda"},
		{name: "unknown forms kept", text: "FOO(bar)=baz\nSYMBOL(x=1\n", key: "SYMBOL(x", want: "1"},
		{name: "arm64 hex NUMBER", text: "NUMBER(kimage_voffset)=0xffffffbf70000000\n", key: "NUMBER(kimage_voffset)", want: "0xffffffbf70000000"},
		{name: "empty text", text: "", key: "A", want: ""},
		{name: "line without =", text: "A=1\nB=2\ngarbage\n", err: `VMCOREINFO line 3: no '=' in "garbage"`, off: 8},
		{name: "empty key", text: "=1\n", err: "line 1: empty key", off: 0},
		{name: "symbol not hex", text: "A=1\nSYMBOL(x)=zz\n", err: `line 2: SYMBOL(x): value "zz" is not a hex number`, off: 4},
		{name: "size negative", text: "SIZE(page)=-64\n", err: `SIZE(page): value "-64" is not an unsigned decimal`},
		{name: "number overflows", text: "NUMBER(x)=99999999999999999999\n", err: "NUMBER(x): value"},
		{name: "pagesize not a number", text: "PAGESIZE=4k\n", err: "PAGESIZE"},
		{name: "binary garbage", text: "\x01\x02\x03\n", err: "line 1: no '='"},
		{name: "NUL inside", text: "A=1\x00\nB\x00=2\n", key: "B\x00", want: "2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := vmcore.ParseVMCOREINFO([]byte(c.text))
			if c.err != "" {
				if err == nil {
					t.Fatalf("no error; keys %q", info.Keys())
				}
				wantFormatOff(t, err, c.off, c.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok := info.Get(c.key)
			if got != c.want || ok != (c.want != "") {
				t.Fatalf("Get(%q) = %q, %v; want %q", c.key, got, ok, c.want)
			}
		})
	}
	// The arm64 hex NUMBER keeps the bits of the kernel's long.
	info, err := vmcore.ParseVMCOREINFO([]byte("NUMBER(kimage_voffset)=0xffffffbf70000000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := info.Number("kimage_voffset"); !ok || uint64(v) != 0xffffffbf70000000 {
		t.Errorf("Number(kimage_voffset) = %#x %v", v, ok)
	}
}
