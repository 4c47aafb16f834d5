package makedumpfile

import (
	"strings"
	"testing"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/mm"
)

// FuzzParse: any command line gives options or an error, never a panic, and
// the options it gives pass or fail check without panicking either; a command that
// passes has one mode and at least one dump level, all valid. The seeds are the
// f.Add lines and testdata/fuzz/FuzzParse (what distributions' kdump.conf and
// kdump-tools pass, and the grammar's corners).
func FuzzParse(f *testing.F) {
	for _, s := range []string{"-l --message-level 7 -d 31 /proc/vmcore out", "-ld31 a b", "-F -c -d 31 a", "-R out", "--num-th=2 -L 1G a b", "-d 1,31 -- -x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		a, err := Parse(strings.Fields(line))
		if err != nil {
			return
		}
		for _, l := range a.Levels {
			if l > mm.MaxDumpLevel {
				t.Fatalf("%q: level %d accepted", line, l)
			}
		}
		_, _ = CoreCollector(strings.Fields(line), config.TargetSSH)
		if a.Check() != nil {
			return
		}
		n := 0
		for _, on := range []bool{a.Flat, a.Rearrange, a.Dmesg} {
			if on {
				n++
			}
		}
		if n > 1 {
			t.Fatalf("%q: -F, -R and --dump-dmesg together passed the check", line)
		}
		if m := a.Mode(); m < Dump || m > MemUsage {
			t.Fatalf("%q: mode %d", line, m)
		}
		if len(a.DumpLevels()) == 0 {
			t.Fatalf("%q: no dump level", line)
		}
		if o := a.Options(); o.Flattened != (a.Mode() == Flattened) || (o.Format == collector.ELF) != a.ELF {
			t.Fatalf("%q: options %+v disagree with the command %+v", line, o, a)
		}
	})
}
