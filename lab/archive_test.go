package lab

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/lab/plan"
)

// writeDisk writes a raw disk image whose first bytes are a tar of members, followed by
// zeros, as the guest leaves its disks.
func writeDisk(t *testing.T, members [][2]string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		if err := tw.WriteHeader(&tar.Header{Name: m[0], Mode: 0o600, Size: int64(len(m[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(m[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 1<<20); err != nil {
		t.Fatal(err)
	}
	return img
}

func factsMembers(t *testing.T) [][2]string {
	u, err := json.Marshal(plan.Uname{Release: "6.1.0-56-amd64", Version: "#1 SMP", Machine: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	return [][2]string{
		{plan.FactsUname, string(u)},
		{plan.FactsCmdline, "console=ttyS0 crashkernel=256M\n"},
		{plan.FactsIomem, sampleIomem},
		{plan.FactsMeminfo, "MemTotal:        1233868 kB\nMemFree:          900000 kB\n"},
		{plan.FactsCPUs, "0-1\n"},
		{plan.FactsKallsyms, "ffffffff82e00000 T _stext\n"},
	}
}

func TestReadFacts(t *testing.T) {
	img := writeDisk(t, factsMembers(t))
	dir := t.TempDir()
	fa, err := readFacts(img, dir)
	if err != nil {
		t.Fatal(err)
	}
	if fa.Release != "6.1.0-56-amd64" || fa.Machine != "x86_64" || fa.CPUs != 2 || fa.MemTotalKiB != 1233868 ||
		fa.Cmdline != "console=ttyS0 crashkernel=256M" || fa.CrashKernel != (Range{0x4f000000, 0x5f000000}) {
		t.Errorf("facts = %+v", fa)
	}
	if !reflect.DeepEqual(fa.SystemRAM, []Range{{0x1000, 0x9fc00}, {0x100000, 0x5ffe0000}}) {
		t.Errorf("SystemRAM = %v", fa.SystemRAM)
	}
	if data, err := os.ReadFile(fa.Kallsyms); err != nil || !strings.Contains(string(data), "_stext") {
		t.Errorf("kallsyms %s: %q %v", fa.Kallsyms, data, err)
	}
}

func TestReadFactsErrors(t *testing.T) {
	ms := factsMembers(t)
	cases := map[string][][2]string{
		"missing kallsyms": ms[:5],
		"stranger":         append(append([][2]string{}, ms...), [2]string{"../evil", "x"}),
		"no crash kernel":  replace(ms, plan.FactsIomem, "00001000-0009fbff : System RAM\n"),
		"bad cpus":         replace(ms, plan.FactsCPUs, "1-0\n"),
		"bad meminfo":      replace(ms, plan.FactsMeminfo, "MemFree: 1 kB\n"),
		"bad uname":        replace(ms, plan.FactsUname, "{"),
	}
	for name, members := range cases {
		if _, err := readFacts(writeDisk(t, members), t.TempDir()); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// An empty (never written) disk has no facts at all.
	empty := filepath.Join(t.TempDir(), "empty.img")
	if err := os.WriteFile(empty, make([]byte, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readFacts(empty, t.TempDir()); err == nil || !strings.Contains(err.Error(), "no \"uname.json\"") {
		t.Errorf("empty disk: err = %v", err)
	}
}

func replace(ms [][2]string, name, data string) [][2]string {
	out := append([][2]string{}, ms...)
	for i := range out {
		if out[i][0] == name {
			out[i][1] = data
		}
	}
	return out
}

func TestExtractTarLimit(t *testing.T) {
	img := writeDisk(t, [][2]string{{"cmdline", "elfcorehdr=0x4f000000"}, {"vmcore", strings.Repeat("x", 100)}})
	if _, err := extractTar(img, t.TempDir(), map[string]int64{"cmdline": 100, "vmcore": 99}); err == nil ||
		!strings.Contains(err.Error(), "more than the 99") {
		t.Errorf("oversized member: err = %v", err)
	}
	files, err := extractTar(img, t.TempDir(), map[string]int64{"cmdline": 100, "vmcore": 100})
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(files["vmcore"]); len(data) != 100 {
		t.Errorf("vmcore has %d bytes, want 100", len(data))
	}
}

func TestCountCPUList(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "0-1": 2, "0-3,5,7-8": 7} {
		if got, err := CountCPUList(in); err != nil || got != want {
			t.Errorf("CountCPUList(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "3-1", "-1", "0-99999999", "1,,2"} {
		if _, err := CountCPUList(in); err == nil {
			t.Errorf("CountCPUList(%q): no error", in)
		}
	}
}

func FuzzParseIomem(f *testing.F) {
	f.Add([]byte(sampleIomem))
	f.Add([]byte("00000000-ffffffff : x\n  00000000-0000ffff : y\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		es, err := ParseIomem(bytes.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		for _, e := range es {
			if e.End <= e.Start || e.Depth < 0 {
				t.Fatalf("bad entry %+v", e)
			}
		}
		ram := SystemRAM(es)
		if ck, ok := Find(es, "Crash kernel"); ok {
			for _, r := range Subtract(ram, ck) {
				if r.End <= r.Start {
					t.Fatalf("Subtract gave empty range %v", r)
				}
			}
		}
	})
}

func FuzzCountCPUList(f *testing.F) {
	for _, s := range []string{"0", "0-1", "0-3,5,7-8", "3-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := CountCPUList(s)
		if err == nil && n <= 0 {
			t.Fatalf("CountCPUList(%q) = %d without error", s, n)
		}
	})
}

func TestMarkedPages(t *testing.T) {
	const page = 4096
	var data []byte
	add := func(s string) {
		p := make([]byte, page)
		copy(p, s)
		data = append(data, p...)
	}
	add(plan.MarkerAnon + "0\n")
	add(plan.MarkerAnon + "2\n")
	add(plan.MarkerAnon + "2\n")                  // a copy counts once
	add(plan.MarkerAnon + "9\n")                  // beyond max
	add(plan.MarkerPageCache + "1\n")             // another marker
	add("x" + plan.MarkerAnon + "1\n")            // not at a page start
	add(plan.MarkerAnon + "1")                    // no newline
	data = append(data, plan.MarkerAnon+"1\n"...) // a short last page
	data = append(data, make([]byte, 100)...)
	got, err := MarkedPages(bytes.NewReader(data), plan.MarkerAnon, 4)
	if err != nil || got != 3 {
		t.Errorf("MarkedPages = %d, %v; want 3 (pages 0, 1, 2)", got, err)
	}
	if _, err := MarkedPages(bytes.NewReader(data), plan.MarkerAnon, 0); err == nil {
		t.Error("max 0: no error")
	}
}
