package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/printk/printktest"
)

// ringPhys is where the synthetic crashed kernel's log buffer is, in its direct map.
const ringPhys = 0x1000000

// dmesgDump writes a synthetic vmcore whose kernel log is ring (nil: no log keys at all)
// and returns its path.
func dmesgDump(t *testing.T, ring *printktest.Lockless) string {
	t.Helper()
	cfg := synth.Default()
	if ring != nil {
		cfg.AddImage(ringPhys, ring.Image)
	}
	c, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path, err := c.WriteFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

var dmesgMessages = []printktest.Message{
	{Text: "Linux version 6.1.0-56-amd64", Level: 5},
	{Text: "sysrq: Trigger a crash", TimestampNs: 6_435_921_504, CallerID: 89, Level: 6},
	{Text: "Kernel panic - not syncing: sysrq triggered crash\nCPU: 1 PID: 89", TimestampNs: 6_436_000_000, CallerID: 0x80000001, Level: 0},
	{Text: "e1000e 0000:00:19.0: esc\x1b[1m tab\tbyte\xfe", TimestampNs: 7_000_000_001, CallerID: 12, Level: 3, Facility: 0,
		Subsystem: "pci", Device: "+pci:0000:00:19.0"},
}

func dmesgRing(t *testing.T) *printktest.Lockless {
	r := printktest.NewLockless(5, 12)
	for _, m := range dmesgMessages {
		if _, err := r.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestDmesgText(t *testing.T) {
	path := dmesgDump(t, dmesgRing(t))
	code, out, errs := runCmd(t, "dmesg", path)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := "[    0.000000] Linux version 6.1.0-56-amd64\n" +
		"[    6.435921] sysrq: Trigger a crash\n" +
		"[    6.436000] Kernel panic - not syncing: sysrq triggered crash\nCPU: 1 PID: 89\n" +
		"[    7.000000] e1000e 0000:00:19.0: esc\\x1b[1m tab\tbyte\\xfe\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestDmesgJSON(t *testing.T) {
	path := dmesgDump(t, dmesgRing(t))
	code, out, errs := runCmd(t, "dmesg", path, "--json")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := []string{
		`{"seq":0,"timestamp_ns":0,"caller":{"pid":0},"level":5,"facility":0,"text":"Linux version 6.1.0-56-amd64"}`,
		`{"seq":1,"timestamp_ns":6435921504,"caller":{"pid":89},"level":6,"facility":0,"text":"sysrq: Trigger a crash"}`,
		`{"seq":2,"timestamp_ns":6436000000,"caller":{"cpu":1},"level":0,"facility":0,"text":"Kernel panic - not syncing: sysrq triggered crash\nCPU: 1 PID: 89"}`,
		`{"seq":3,"timestamp_ns":7000000001,"caller":{"pid":12},"level":3,"facility":0,"subsystem":"pci","device":"+pci:0000:00:19.0","text":"e1000e 0000:00:19.0: esc\\x1b[1m tab\tbyte\\xfe"}`,
	}
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		var g, w any
		if err := json.Unmarshal([]byte(got[i]), &g); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, got[i])
		}
		if err := json.Unmarshal([]byte(want[i]), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("line %d:\n%s\nwant\n%s", i, got[i], want[i])
		}
	}
}

func TestDmesgErrors(t *testing.T) {
	damaged := dmesgRing(t)
	id := damaged.HeadID - 1 // the third record
	damaged.SetLpos(id, 0x10, 0x8)
	notCore := filepath.Join(t.TempDir(), "notcore")
	if err := os.WriteFile(notCore, []byte("not an ELF file at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    func() []string
		code    int
		stdout  string
		stderrs []string
	}{
		{"no dump", func() []string { return nil }, 2, "", []string{"Usage: gokdump dmesg"}},
		{"missing file", func() []string { return []string{"/nonexistent/vmcore"} }, 1, "", []string{"/nonexistent/vmcore"}},
		{"not a vmcore", func() []string { return []string{notCore} }, 1, "", []string{notCore}},
		{"no log in VMCOREINFO", func() []string {
			p := dmesgDump(t, nil)
			return []string{p, p + ": printk: VMCOREINFO has no SYMBOL(prb) or SYMBOL(log_buf)"}
		}, 1, "", nil},
		{"damaged ring", func() []string {
			p := dmesgDump(t, damaged)
			return []string{p, p + fmt.Sprintf(": printk: record id 0x%x (seq 2): text block lpos begin 0x10 next 0x8 is not a block", id)}
		}, 1, "[    0.000000] Linux version 6.1.0-56-amd64\n[    6.435921] sysrq: Trigger a crash\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args()
			stderrs := tc.stderrs
			if tc.stderrs == nil { // the expected message came with the path
				args, stderrs = args[:1], args[1:]
			}
			code, out, errs := runCmd(t, append([]string{"dmesg"}, args...)...)
			if code != tc.code || out != tc.stdout {
				t.Errorf("exit %d, stdout %q; want %d, %q", code, out, tc.code, tc.stdout)
			}
			for _, s := range stderrs {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr %q lacks %q", errs, s)
				}
			}
		})
	}
}
