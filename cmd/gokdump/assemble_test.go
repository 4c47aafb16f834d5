package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gokdump/gokdump/assemble"
	"github.com/gokdump/gokdump/assemble/assembletest"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/vmcore"
)

// asmMachine is a synthetic crashed machine whose RAM image holds, past the memory
// the vmcore describes, an ELF core header with one note buffer per note, as the
// kernel lays them out in the crashkernel reservation.
type asmMachine struct {
	crash   *synth.Crash
	ram     []byte
	ramPath string // the RAM image file
	vmcore  string // the same crash written by synth directly
	hdr     uint64 // physical address of the ELF core header
}

const asmReserveSize = 1 << 20

var (
	asmOnce sync.Once
	asmM    *asmMachine
	asmErr  error
)

// asmTestMachine builds the machine once per test binary and writes its RAM image and
// synthetic vmcore into the test's temporary directory.
func asmTestMachine(t *testing.T) *asmMachine {
	t.Helper()
	asmOnce.Do(func() { asmM, asmErr = buildAsmMachine() })
	if asmErr != nil {
		t.Fatal(asmErr)
	}
	m := *asmM
	dir := t.TempDir()
	var err error
	if m.vmcore, err = m.crash.WriteFile(dir); err != nil {
		t.Fatal(err)
	}
	m.ramPath = filepath.Join(dir, "ram.img")
	if err := os.WriteFile(m.ramPath, m.ram, 0o600); err != nil {
		t.Fatal(err)
	}
	return &m
}

func buildAsmMachine() (*asmMachine, error) {
	c, err := synth.New(synth.Default())
	if err != nil {
		return nil, err
	}
	m := &asmMachine{crash: c}
	ref, err := vmcore.NewFile(bytes.NewReader(c.Image), int64(len(c.Image)), "synth")
	if err != nil {
		return nil, err
	}
	base := uint64(len(c.RAM))
	m.ram = append(bytes.Clone(c.RAM), make([]byte, asmReserveSize)...)
	m.hdr = base + 0xf0000
	h := assembletest.Header{Addr: m.hdr}
	at := base
	for _, n := range ref.Notes {
		enc := dumpfile.EncodeNote(n.Name, n.Type, n.Desc)
		size := (uint64(len(enc)) + 12 + 0x3ff) &^ 0x3ff
		h.Notes = append(h.Notes, assembletest.NoteBuffer{At: at, Size: size, Notes: enc})
		at += size
	}
	for _, l := range c.Loads {
		h.Loads = append(h.Loads, assemble.Load{Phys: l.Phys, At: l.Phys, Virt: l.Virt, Size: l.Size})
	}
	if _, err := assembletest.Place(m.ram, h); err != nil {
		return nil, err
	}
	return m, nil
}

// The assembled vmcore is the synthetic vmcore byte for byte, and "gokdump info"
// says the same about both.
func TestAssembleCommand(t *testing.T) {
	m := asmTestMachine(t)
	out := filepath.Join(t.TempDir(), "vmcore")
	code, stdout, stderr := runCmd(t, "assemble", "--mem", m.ramPath, fmt.Sprintf("%#x", m.hdr), "-o", out)
	if code != 0 || stdout != "" {
		t.Fatalf("assemble: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, m.crash.Image) {
		t.Errorf("assembled vmcore (%d bytes) differs from the synthetic one (%d bytes)", len(got), len(m.crash.Image))
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", out, st.Mode().Perm())
	}
	if a, b := infoJSON(t, out), infoJSON(t, m.vmcore); a != b {
		t.Errorf("info --json differs:\nassembled %s\nsynth     %s", a, b)
	}

	// An existing file is not overwritten without -f.
	code, _, stderr = runCmd(t, "assemble", "--mem", m.ramPath, fmt.Sprintf("%#x", m.hdr), "-o", out)
	if code != asmExitWrite || !strings.Contains(stderr, "exists") {
		t.Errorf("assemble onto an existing file: exit %d, %q", code, stderr)
	}
	if code, _, stderr = runCmd(t, "assemble", "--mem", m.ramPath, fmt.Sprintf("%#x", m.hdr), "-o", out, "-f"); code != 0 {
		t.Errorf("assemble -f: exit %d, %q", code, stderr)
	}
}

// infoJSON is "gokdump info --json" without the file name.
func infoJSON(t *testing.T, path string) string {
	t.Helper()
	code, stdout, stderr := runCmd(t, "info", "--json", path)
	if code != 0 {
		t.Fatalf("info %s: exit %d: %s", path, code, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	delete(r, "file")
	b, _ := json.Marshal(r)
	return string(b)
}

// The address from the elfcorehdr environment variable, in the K form of kexec_load,
// and the vmcore on standard output.
func TestAssembleEnvironment(t *testing.T) {
	m := asmTestMachine(t)
	if m.hdr%1024 != 0 {
		t.Fatalf("header at %#x is not a whole number of KiB", m.hdr)
	}
	t.Setenv("elfcorehdr", fmt.Sprintf("%dK", m.hdr>>10))
	code, stdout, stderr := runCmd(t, "assemble", "--mem", m.ramPath)
	if code != 0 || !bytes.Equal([]byte(stdout), m.crash.Image) {
		t.Fatalf("assemble with elfcorehdr=%s: exit %d, %d bytes on stdout; %s", os.Getenv("elfcorehdr"), code, len(stdout), stderr)
	}
	// The argument wins over the environment; size@addr is accepted.
	t.Setenv("elfcorehdr", "0x1")
	code, stdout, _ = runCmd(t, "assemble", "--mem", m.ramPath, fmt.Sprintf("4K@%d", m.hdr))
	if code != 0 || !bytes.Equal([]byte(stdout), m.crash.Image) {
		t.Errorf("assemble 4K@%d: exit %d", m.hdr, code)
	}
}

// An image holding RAM in two pieces, described with --map.
func TestAssembleMap(t *testing.T) {
	m := asmTestMachine(t)
	split := uint64(len(m.ram)) / 2 &^ 0xfff
	img := append(append(append([]byte("HEAD"), m.ram[split:]...), "PAD"...), m.ram[:split]...)
	path := filepath.Join(t.TempDir(), "pieces.img")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	second := 4 + uint64(len(m.ram)) - split + 3
	code, stdout, stderr := runCmd(t, "assemble", "--mem", path,
		"--map", fmt.Sprintf("4:%#x:%#x", split, uint64(len(m.ram))-split),
		"--map", fmt.Sprintf("%d:0:%#x", second, split),
		fmt.Sprintf("%#x", m.hdr))
	if code != 0 || !bytes.Equal([]byte(stdout), m.crash.Image) {
		t.Fatalf("assemble --map: exit %d, %d bytes; %s", code, len(stdout), stderr)
	}
	// Without the low piece the direct-map PT_LOAD cannot be read: code 5, naming it.
	code, _, stderr = runCmd(t, "assemble", "--mem", path,
		"--map", fmt.Sprintf("4:%#x:%#x", split, uint64(len(m.ram))-split), fmt.Sprintf("%#x", m.hdr))
	if code != asmExitReadMemory || !strings.Contains(stderr, fmt.Sprintf("[0x0, %#x)", split)) {
		t.Errorf("assemble with a piece missing: exit %d, %q", code, stderr)
	}
}

// Each exit code of kexec-tools' kdump, with a message saying what was wrong.
func TestAssembleExitCodes(t *testing.T) {
	m := asmTestMachine(t)
	notELF := filepath.Join(t.TempDir(), "zeros.img")
	if err := os.WriteFile(notELF, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Unsetenv("elfcorehdr")
	for _, tc := range []struct {
		name string
		env  string
		args []string
		code int
		msg  string
	}{
		{"two addresses", "", []string{"--mem", m.ramPath, "0x1000", "0x2000"}, 9, "invalid argument count"},
		{"bad option", "", []string{"--no-such-option", "0x1000"}, 9, "no-such-option"},
		{"bad map", "", []string{"--map", "1:2", "0x1000"}, 9, "FILEOFF:PHYS:SIZE"},
		{"no address", "", []string{"--mem", m.ramPath}, 1, "cannot find the start of the core dump"},
		{"bad address", "", []string{"--mem", m.ramPath, "0x12zz"}, 2, `bad core dump start address "0x12zz"`},
		{"bad environment", "12Q", []string{"--mem", m.ramPath}, 2, "elfcorehdr environment variable"},
		{"no memory", "", []string{"--mem", "/nonexistent/ram.img", "0x1000"}, 3, "/nonexistent/ram.img"},
		{"map beyond file", "", []string{"--mem", notELF, "--map", "0:0:2M", "0x1000"}, 3, "beyond the end of the file"},
		{"not an ELF header", "", []string{"--mem", notELF, "0x2000"}, 4, "physical 0x2000: no ELF magic"},
		{"header beyond memory", "", []string{"--mem", notELF, "2M"}, 5, "no physical memory at [0x200000, 0x200040) for the ELF header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("elfcorehdr", tc.env)
				defer os.Unsetenv("elfcorehdr")
			}
			code, stdout, stderr := runCmd(t, append([]string{"assemble"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) || stdout != "" {
				t.Errorf("exit %d, stderr %q, %d bytes on stdout; want exit %d and %q", code, stderr, len(stdout), tc.code, tc.msg)
			}
		})
	}
	// A damaged header byte gives code 4 naming the field's address.
	ram := bytes.Clone(m.ram)
	ram[m.hdr+4] = 1 // ELFCLASS32
	bad := filepath.Join(t.TempDir(), "class32.img")
	if err := os.WriteFile(bad, ram, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, "assemble", "--mem", bad, fmt.Sprintf("%#x", m.hdr))
	if want := fmt.Sprintf("physical %#x: class ELFCLASS32, want ELFCLASS64", m.hdr+4); code != 4 || !strings.Contains(stderr, want) {
		t.Errorf("ELFCLASS32 header: exit %d, %q; want 4 and %q", code, stderr, want)
	}
}

// --compress and --dump-level pass the vmcore through the collector.
func TestAssembleFiltered(t *testing.T) {
	m := asmTestMachine(t)
	out := filepath.Join(t.TempDir(), "dump.kdump")
	code, _, stderr := runCmd(t, "assemble", "--mem", m.ramPath, "--compress", "zlib", "--dump-level", "1", "-o", out, fmt.Sprintf("%#x", m.hdr))
	if code != 0 {
		t.Fatalf("assemble --compress zlib --dump-level 1: exit %d: %s", code, stderr)
	}
	f, err := vmcore.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Format != vmcore.FormatKdump || f.Kdump == nil {
		t.Fatalf("%s is %v, want kdump-compressed", out, f.Format)
	}
	// Every non-zero page of RAM reads back; zero pages are left out.
	page := make([]byte, 4096)
	kept, zero := 0, 0
	for pa := uint64(0); pa < uint64(len(m.crash.RAM)); pa += 4096 {
		want := m.crash.RAM[pa : pa+4096]
		_, err := f.ReadPhys(page, pa)
		if bytes.Equal(want, make([]byte, 4096)) {
			zero++
			continue
		}
		kept++
		if err != nil || !bytes.Equal(page, want) {
			t.Fatalf("page %#x: %v, or contents differ", pa, err)
		}
	}
	if kept == 0 || zero == 0 {
		t.Errorf("%d non-zero and %d zero pages: the test machine should have both", kept, zero)
	}
	if a, b := infoJSON(t, out), infoJSON(t, m.vmcore); !strings.Contains(a, `"release":"6.1.0-56-amd64"`) || !strings.Contains(b, `"release":"6.1.0-56-amd64"`) {
		t.Errorf("info of the filtered dump: %s", a)
	}

	// To standard output the kdump-compressed file is flattened.
	code, stdout, stderr := runCmd(t, "assemble", "--mem", m.ramPath, "--compress", "lzo", fmt.Sprintf("%#x", m.hdr))
	if code != 0 || !strings.HasPrefix(stdout, "makedumpfile") {
		t.Errorf("assemble --compress lzo to stdout: exit %d, starts %q: %s", code, stdout[:min(len(stdout), 16)], stderr)
	}
	// A filtered ELF core: zero pages left out, the others kept.
	elfOut := filepath.Join(t.TempDir(), "filtered.elf")
	if code, _, stderr = runCmd(t, "assemble", "--mem", m.ramPath, "--elf", "--dump-level", "1", "-o", elfOut, fmt.Sprintf("%#x", m.hdr)); code != 0 {
		t.Fatalf("assemble --elf --dump-level 1: exit %d: %s", code, stderr)
	}
	ef, err := vmcore.Open(elfOut)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	if st, _ := os.Stat(elfOut); ef.Format != vmcore.FormatELF || st.Size() >= int64(len(m.crash.Image)) {
		t.Errorf("filtered ELF core: format %v, %d bytes (unfiltered %d)", ef.Format, st.Size(), len(m.crash.Image))
	}
	for pa := uint64(0); pa < uint64(len(m.crash.RAM)); pa += 4096 {
		if want := m.crash.RAM[pa : pa+4096]; !bytes.Equal(want, make([]byte, 4096)) {
			if _, err := ef.ReadPhys(page, pa); err != nil || !bytes.Equal(page, want) {
				t.Fatalf("filtered ELF core, page %#x: %v, or contents differ", pa, err)
			}
		}
	}
	if code, _, stderr = runCmd(t, "assemble", "--mem", m.ramPath, "--dump-level", "32", fmt.Sprintf("%#x", m.hdr)); code != 9 || !strings.Contains(stderr, "0..31") {
		t.Errorf("--dump-level 32: exit %d, %q", code, stderr)
	}
	if code, _, stderr = runCmd(t, "assemble", "--mem", m.ramPath, "--elf", fmt.Sprintf("%#x", m.hdr)); code != 9 || !strings.Contains(stderr, "--elf") {
		t.Errorf("--elf without filtering: exit %d, %q", code, stderr)
	}
}
