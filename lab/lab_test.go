package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gokdump/gokdump/arch/x86"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/lab/plan"
	"github.com/gokdump/gokdump/vmcore"
)

// The guest program and gokdump are built once per test binary run, by the first test
// that needs them, into a directory TestMain removes at the end.
var (
	binOnce sync.Once
	binDir  string
	bins    Binaries
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if crashRoot != "" {
		os.RemoveAll(crashRoot)
	}
	os.Exit(code)
}

// Each variant is crashed once per test binary run, by the first test that needs it, and
// every test of a capability (info, the collector, dmesg, ...) checks the same capture:
// a VM takes a minute or two under TCG.
var (
	crashRootOnce sync.Once
	crashRoot     string
	crashRootErr  error
	crashMu       sync.Mutex
	crashByName   = map[string]*crashOnce{}
)

type crashOnce struct {
	once sync.Once
	res  *Result
	err  error
}

// crashFor returns the capture of variant v, crashing the guest on first use.
func crashFor(t *testing.T, v labVariant) *Result {
	t.Helper()
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	testenv.NeedTool(t, QEMU, "qemu-system-x86")
	b := labBinaries(t)
	k := testenv.KernelPackage(t, v.kernel)
	crashRootOnce.Do(func() { crashRoot, crashRootErr = os.MkdirTemp("", "gokdump-lab-crashes-") })
	if crashRootErr != nil {
		t.Fatal(crashRootErr)
	}
	crashMu.Lock()
	c := crashByName[v.name]
	if c == nil {
		c = &crashOnce{}
		crashByName[v.name] = c
	}
	crashMu.Unlock()
	c.once.Do(func() {
		dir := filepath.Join(crashRoot, v.name)
		if c.err = os.Mkdir(dir, 0o700); c.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		c.res, c.err = Crash(ctx, Config{
			Kernel: k, Binaries: b, Dir: dir,
			CPU: v.cpu, KASLR: v.kaslr, PageCacheMiB: workloadMiB, AnonMiB: workloadMiB,
			Crash: v.crash, MemoryMiB: v.memoryMiB,
		})
		if c.res != nil {
			t.Logf("%s: VM ran %s; console %s", v.name, c.res.Elapsed.Round(time.Second), c.res.ConsoleLog)
		}
		if c.err != nil && c.res != nil {
			t.Logf("console tail:\n%s", ConsoleTail(c.res.ConsoleLog, 80))
		}
	})
	if c.err != nil {
		t.Fatalf("crashing %s: %v", v.name, c.err)
	}
	return c.res
}

// labBinaries returns the static guest program and gokdump for lab guests.
func labBinaries(t *testing.T) Binaries {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "gokdump-lab-bin-"); binErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		bins, binErr = BuildBinaries(ctx, binDir)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return bins
}

// guestGokdump returns the static gokdump binary of the lab guests, which the tests
// also run on the host.
func guestGokdump(t *testing.T) string {
	t.Helper()
	return labBinaries(t).Gokdump
}

// labVariant is one kind of guest the lab must capture.
type labVariant struct {
	name   string
	kernel string // Debian package or metapackage
	cpu    string
	kaslr  bool
	// levels is the paging depth the guest must run with: -cpu max under TCG offers
	// LA57, qemu64 does not.
	levels int
	// crash is the plan crash method (default sysrq-c); memoryMiB the guest memory
	// (default 1536).
	crash     string
	memoryMiB int
}

var labVariants = []labVariant{
	{name: "6.1-5level-kaslr", kernel: testenv.Kernel61, cpu: "max", kaslr: true, levels: 5},
	{name: "6.1-4level-nokaslr", kernel: testenv.Kernel61, cpu: "qemu64", kaslr: false, levels: 4},
	{name: "6.12-5level-kaslr", kernel: testenv.Kernel612, cpu: "max", kaslr: true, levels: 5},
}

// workloadMiB is the size of each part of the guest's workload (page cache, anonymous).
const workloadMiB = 128

// TestLab crashes each variant for real and checks the capture against what the guest
// said about itself before it crashed.
func TestLab(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	for _, v := range labVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			res := crashFor(t, v)
			checkCapture(t, v, res)
			checkInfo(t, v, guestGokdump(t), res)
			checkVirtual(t, res)
			if t.Failed() {
				t.Logf("console tail:\n%s", ConsoleTail(res.ConsoleLog, 80))
			}
		})
	}
}

func checkCapture(t *testing.T, v labVariant, res *Result) {
	fa := res.Facts
	if !hasEvent(res.Console, "armed") || !hasEvent(res.Console, "saved") {
		t.Errorf("console lacks armed/saved: %q", res.Console)
	}
	if fa.Release != strings.TrimPrefix(testenv.KernelPackage(t, v.kernel).Package, "linux-image-") {
		t.Errorf("guest release %q is not the kernel package's", fa.Release)
	}
	if fa.CPUs != 2 {
		t.Errorf("guest has %d CPUs, want 2", fa.CPUs)
	}
	if strings.Contains(fa.Cmdline, "nokaslr") == v.kaslr {
		t.Errorf("first kernel's command line %q does not match kaslr=%v", fa.Cmdline, v.kaslr)
	}

	// The capture kernel's command line carries the ELF core header's address, which
	// the first kernel put inside the crashkernel reservation.
	m := regexp.MustCompile(`(?:^| )elfcorehdr=(0x[0-9a-f]+|[0-9]+K?)(?: |$)`).FindStringSubmatch(res.CaptureCmdline)
	if m == nil {
		t.Fatalf("capture command line %q has no elfcorehdr=", res.CaptureCmdline)
	}
	hdr, err := strconv.ParseUint(strings.TrimSuffix(m[1], "K"), 0, 64)
	if strings.HasSuffix(m[1], "K") {
		hdr <<= 10
	}
	if err != nil || hdr < fa.CrashKernel.Start || hdr >= fa.CrashKernel.End {
		t.Errorf("elfcorehdr=%s is not inside the crashkernel range %v", m[1], fa.CrashKernel)
	}

	head := make([]byte, 4)
	f0, err := os.Open(res.Vmcore)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f0.Read(head)
	f0.Close()
	if err != nil || !bytes.Equal(head, []byte("\x7fELF")) {
		t.Fatalf("vmcore %s does not start with the ELF magic: %q %v", res.Vmcore, head, err)
	}

	f, err := vmcore.Open(res.Vmcore)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Logf("vmcore: %d MiB, %d PT_LOADs, %d notes", f.Size>>20, len(f.Loads), len(f.Notes))
	info, err := f.VMCOREINFO()
	if err != nil {
		t.Fatal(err)
	}
	if rel, _ := info.OSRelease(); rel != fa.Release {
		t.Errorf("VMCOREINFO OSRELEASE %q, guest uname release %q", rel, fa.Release)
	}
	prs, err := f.PRStatus()
	if err != nil {
		t.Fatal(err)
	}
	if len(prs) != fa.CPUs {
		t.Errorf("%d NT_PRSTATUS notes, guest had %d CPUs online", len(prs), fa.CPUs)
	}
	l5, ok := info.Number("pgtable_l5_enabled")
	if !ok {
		t.Errorf("VMCOREINFO lacks NUMBER(pgtable_l5_enabled)")
	} else if want := map[int]int64{4: 0, 5: 1}[v.levels]; l5 != want {
		t.Errorf("NUMBER(pgtable_l5_enabled)=%d, want %d for %d-level paging", l5, want, v.levels)
	}
	off, ok := info.KernelOffset()
	if !ok {
		t.Errorf("VMCOREINFO lacks KERNELOFFSET")
	} else if (off != 0) != v.kaslr {
		t.Errorf("KERNELOFFSET=%#x with kaslr=%v", off, v.kaslr)
	}

	// The direct-map PT_LOADs describe exactly the first kernel's System RAM without
	// the crashkernel reservation (the capture kernel's own memory) and without the
	// first MiB, which kexec_file_load's ELF header leaves out on x86 (the capture
	// kernel may use it; 6.1 and 6.12 both do this). The kernel-text PT_LOAD
	// (Virt 0xffffffff8...) overlaps them physically and is checked on its own.
	var got []Range
	var text []vmcore.Segment
	for _, s := range f.Loads {
		if s.Virt >= 0xffffffff80000000 {
			text = append(text, s)
			continue
		}
		got = append(got, Range{s.Phys, s.Phys + s.MemSize})
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Start < got[j].Start })
	want := Subtract(Subtract(fa.SystemRAM, fa.CrashKernel), Range{0, 1 << 20})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PT_LOAD physical ranges\n got %v\nwant %v (System RAM %v minus crashkernel %v and the first MiB)",
			got, want, fa.SystemRAM, fa.CrashKernel)
	}
	checkWorkload(t, res.Vmcore)
	if len(text) != 1 {
		t.Errorf("%d kernel-text PT_LOADs, want 1", len(text))
	} else if !inside(want, Range{text[0].Phys, text[0].Phys + text[0].MemSize}) {
		t.Errorf("kernel-text PT_LOAD %#x+%#x is not inside the direct-map ranges", text[0].Phys, text[0].MemSize)
	}
}

// checkWorkload finds every page of the guest's workload in the vmcore: the dump holds
// the guest's memory contents, not only its layout.
func checkWorkload(t *testing.T, vmcorePath string) {
	for _, marker := range []string{plan.MarkerPageCache, plan.MarkerAnon} {
		f, err := os.Open(vmcorePath)
		if err != nil {
			t.Fatal(err)
		}
		want := workloadMiB << 20 / 4096
		got, err := MarkedPages(bufio.NewReaderSize(f, 1<<20), marker, want)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("vmcore holds %d distinct %q pages, want all %d", got, marker, want)
		}
	}
}

// checkInfo runs "gokdump info --json" on the capture and compares it with what the
// guest said about itself before it crashed.
func checkInfo(t *testing.T, v labVariant, bin string, res *Result) {
	out, err := exec.Command(bin, "info", "--json", res.Vmcore).Output()
	if err != nil {
		t.Fatalf("gokdump info: %v\n%s", err, out)
	}
	var r struct {
		Kernel struct{ Release, Version, Machine string }
		CPUs   int `json:"cpus"`
		Memory struct {
			TotalBytes uint64 `json:"total_bytes"`
			Ranges     []struct{ Start, End string }
		}
		PagingLevels int    `json:"paging_levels"`
		KASLR        *bool  `json:"kaslr"`
		KASLROffset  string `json:"kaslr_offset"`
		CrashTime    string `json:"crash_time"`
		Warnings     []string
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("gokdump info --json: %v\n%s", err, out)
	}
	fa := res.Facts
	if r.Kernel.Release != fa.Release || r.Kernel.Version != fa.Version || r.Kernel.Machine != fa.Machine {
		t.Errorf("info kernel %+v, guest uname %q %q %q", r.Kernel, fa.Release, fa.Version, fa.Machine)
	}
	if r.CPUs != fa.CPUs || r.PagingLevels != v.levels || r.KASLR == nil || *r.KASLR != v.kaslr {
		t.Errorf("info cpus %d paging %d kaslr %v; guest had %d CPUs, want %d-level, kaslr %v",
			r.CPUs, r.PagingLevels, r.KASLR, fa.CPUs, v.levels, v.kaslr)
	}
	var want uint64
	for _, x := range Subtract(Subtract(fa.SystemRAM, fa.CrashKernel), Range{0, 1 << 20}) {
		want += x.End - x.Start
	}
	if r.Memory.TotalBytes != want {
		t.Errorf("info memory %d bytes in %d ranges, want %d (System RAM minus crashkernel and the first MiB)",
			r.Memory.TotalBytes, len(r.Memory.Ranges), want)
	}
	if ct, err := time.Parse(time.RFC3339, r.CrashTime); err != nil || time.Since(ct) > 2*time.Hour || time.Until(ct) > 2*time.Hour {
		t.Errorf("info crash time %q is not around now (%v)", r.CrashTime, err)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("info warnings: %q", r.Warnings)
	}
}

// checkVirtual proves that virtual addresses translate on a real crash: symbols the
// guest's own /proc/kallsyms gives (relocated by KASLR) equal VMCOREINFO's, and data read
// through the page tables at them is what the running kernel had there.
func checkVirtual(t *testing.T, res *Result) {
	syms := readKallsyms(t, res.Facts.Kallsyms, "init_uts_ns", "linux_banner", "init_top_pgt")
	f, err := vmcore.Open(res.Vmcore)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := f.VMCOREINFO()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"init_uts_ns", "init_top_pgt"} {
		if got, _ := info.Symbol(name); got != syms[name] {
			t.Errorf("SYMBOL(%s)=%#x, guest kallsyms %#x", name, got, syms[name])
		}
	}
	k, err := kernel.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	uts, err := k.UTSName()
	if err != nil {
		t.Fatal(err)
	}
	if uts.Release != res.Facts.Release || uts.Version != res.Facts.Version {
		t.Errorf("init_uts_ns through the page tables: %q %q, guest %q %q", uts.Release, uts.Version, res.Facts.Release, res.Facts.Version)
	}
	// linux_banner is "Linux version RELEASE (builder) VERSION\n": a symbol VMCOREINFO
	// does not name, found only through the guest's kallsyms, read through a page walk
	// (Walk, not the text-map shortcut) to prove the tables themselves.
	as, ok := k.Space.(*x86.AddressSpace)
	if !ok {
		t.Fatalf("the guest's address space is a %T, not x86_64's", k.Space)
	}
	phys, _, err := as.Walk(syms["linux_banner"])
	if err != nil {
		t.Fatalf("walking linux_banner %#x: %v", syms["linux_banner"], err)
	}
	banner := make([]byte, 256)
	if _, err := f.ReadPhys(banner, phys); err != nil {
		t.Fatal(err)
	}
	want := "Linux version " + res.Facts.Release + " "
	if !bytes.HasPrefix(banner, []byte(want)) || !bytes.Contains(banner, []byte(res.Facts.Version)) {
		t.Errorf("linux_banner at %#x (phys %#x) reads %q, want %q... %q", syms["linux_banner"], phys, banner, want, res.Facts.Version)
	}
	// The same bytes through the direct map.
	direct := make([]byte, len(want))
	if _, err := as.ReadVirt(direct, as.DirectMapBase+phys); err != nil || string(direct) != want {
		t.Errorf("linux_banner through the direct map %#x: %q, %v", as.DirectMapBase+phys, direct, err)
	}
}

// readKallsyms returns the addresses of the named symbols from a saved /proc/kallsyms.
func readKallsyms(t *testing.T, path string, names ...string) map[string]uint64 {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	got := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || !want[fields[2]] {
			continue
		}
		if _, dup := got[fields[2]]; dup {
			continue
		}
		addr, err := strconv.ParseUint(fields[0], 16, 64)
		if err != nil || addr == 0 {
			t.Fatalf("%s: %q: address not readable (kptr_restrict?)", path, sc.Text())
		}
		got[fields[2]] = addr
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, ok := got[n]; !ok {
			t.Fatalf("%s has no symbol %s", path, n)
		}
	}
	return got
}

func inside(rs []Range, r Range) bool {
	for _, x := range rs {
		if r.Start >= x.Start && r.End <= x.End {
			return true
		}
	}
	return false
}
