package synth

import (
	"bytes"
	"testing"

	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/vmcore"
)

// The fixture must be what it claims: a dump whose utsname reads back through the page
// tables, with one PRSTATUS per CPU, built the same way every time.
func TestNewReadsBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		levels int
		kref   bool
	}{{"4-level", 4, false}, {"5-level kref", 5, true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			cfg.Kernel.Levels = tc.levels
			if tc.levels == 5 {
				cfg.Kernel.DirectMapBase = 0xff4a5c0000000000
			}
			cfg.UTSKref = tc.kref
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			f, err := vmcore.NewFile(bytes.NewReader(c.Image), int64(len(c.Image)), "synth")
			if err != nil {
				t.Fatal(err)
			}
			k, err := kernel.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			if k.Layout.PagingLevels != tc.levels {
				t.Errorf("levels %d, want %d", k.Layout.PagingLevels, tc.levels)
			}
			uts, err := k.UTSName()
			if err != nil {
				t.Fatal(err)
			}
			if uts.Release != cfg.Release || uts.Version != cfg.Version || uts.Machine != "x86_64" || uts.Nodename != cfg.Nodename {
				t.Errorf("utsname %+v", uts)
			}
			prs, err := f.PRStatus()
			if err != nil || len(prs) != cfg.CPUs {
				t.Fatalf("PRStatus: %d notes, %v", len(prs), err)
			}
			for i, p := range prs {
				if p.Regs.RIP != c.RIPs[i] {
					t.Errorf("cpu %d rip 0x%x, want 0x%x", i, p.Regs.RIP, c.RIPs[i])
				}
			}
			again, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Image, c.Image) {
				t.Error("the same Config gave different bytes")
			}
		})
	}
}
