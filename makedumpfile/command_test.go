package makedumpfile

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/mm"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		want  Command
		error string
	}{
		// What kdump-utils (core_collector) and kdump-tools (MAKEDUMP_ARGS) pass.
		{args: []string{"-l", "--message-level", "7", "-d", "31", "/proc/vmcore", "out"},
			want: Command{Levels: []mm.DumpLevel{31}, Codec: compress.LZO, MessageLevel: 7, Operands: []string{"/proc/vmcore", "out"}}},
		{args: []string{"-F", "-l", "--message-level", "7", "-d", "31", "/proc/vmcore"},
			want: Command{Levels: []mm.DumpLevel{31}, Codec: compress.LZO, Flat: true, MessageLevel: 7, Operands: []string{"/proc/vmcore"}}},
		{args: []string{"-c", "-d", "31", "/proc/vmcore", "out"},
			want: Command{Levels: []mm.DumpLevel{31}, Codec: compress.Zlib, MessageLevel: 7, Operands: []string{"/proc/vmcore", "out"}}},
		{args: []string{"-d31", "-z", "vm", "out"},
			want: Command{Levels: []mm.DumpLevel{31}, Codec: compress.Zstd, MessageLevel: 7, Operands: []string{"vm", "out"}}},
		{args: []string{"-ld31", "vm", "out"},
			want: Command{Levels: []mm.DumpLevel{31}, Codec: compress.LZO, MessageLevel: 7, Operands: []string{"vm", "out"}}},
		{args: []string{"-Epd", "1", "vm", "out"}, // getopt: -E -p -d 1
			want: Command{Levels: []mm.DumpLevel{1}, Codec: compress.Snappy, ELF: true, MessageLevel: 7, Operands: []string{"vm", "out"}}},
		{args: []string{"vm", "out", "--message-level=31", "--num-th", "3", "--show-stats", "--json", "-d", "1,31"},
			want: Command{Levels: []mm.DumpLevel{1, 31}, MessageLevel: 31, Threads: 3, ShowStats: true, JSON: true, Operands: []string{"vm", "out"}}},
		{args: []string{"-R", "out"}, want: Command{Rearrange: true, MessageLevel: 7, Operands: []string{"out"}}},
		{args: []string{"-f", "-L", "2M", "--dry-run", "--", "-vm"},
			want: Command{Force: true, SizeLimit: 2 << 20, DryRun: true, MessageLevel: 7, Operands: []string{"-vm"}}},
		{args: []string{"--cyclic-buffer", "4", "--non-mmap", "vm", "out"},
			want: Command{WindowPFNs: 4 * 1024 * 8, MessageLevel: 7, Operands: []string{"vm", "out"}}},
		{args: []string{"-Q", "vm", "out"}, error: "unknown option -Q"},
		{args: []string{"--bogus", "vm", "out"}, error: "unknown option --bogus"},
		{args: []string{"--vtop", "1", "vm"}, error: "option --vtop is not supported"},
		{args: []string{"-x", "vmlinux", "vm", "out"}, error: "option -x is not supported"},
		{args: []string{"-d", "32", "vm", "out"}, error: "dump level \"32\" is invalid"},
		{args: []string{"-d"}, error: "option -d needs an argument"},
		{args: []string{"--message-level", "x"}, error: "--message-level \"x\""},
		{args: []string{"--show-stats=1"}, error: "takes no argument"},
	} {
		got, err := Parse(tc.args)
		if tc.error != "" {
			if err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.error)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.args, *got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		error string
	}{
		{[]string{"-E", "-c", "vm", "out"}, "cannot hold zlib"},
		{[]string{"vm"}, "want two operands"},
		{[]string{"-F", "vm", "out"}, "wants one operand"},
		{[]string{"-R"}, "wants one operand"},
		{[]string{"-R", "-F", "out"}, "no other output option"},
		{[]string{"--check-params"}, ""},
		{[]string{"--dry-run", "vm"}, ""},
	} {
		a, err := Parse(tc.args)
		if err == nil {
			err = a.Check()
		}
		if (err == nil) != (tc.error == "") || err != nil && !strings.Contains(err.Error(), tc.error) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.error)
		}
	}
}

func TestCoreCollector(t *testing.T) {
	for _, tc := range []struct {
		args   string
		target config.TargetKind
		error  string
	}{
		{"-l --message-level 7 -d 31", config.TargetRootfs, ""},
		{"-z -d 1,31 --num-threads 1", config.TargetExt4, ""},
		{"-F -l -d 31", config.TargetSSH, ""},
		{"-F -c", config.TargetRaw, ""},
		{"-E -d 31", config.TargetXFS, ""},
		{"-l -d 31", config.TargetSSH, ""},
		{"-l -d 31", config.TargetRaw, "add -F"},
		{"-F -l", config.TargetExt4, "remove it"},
		{"-E -c", config.TargetExt4, "cannot hold zlib"},
		{"-d 32", config.TargetExt4, "dump level"},
		{"--split", config.TargetExt4, "not supported in core_collector"},
		{"-i /tmp/info", config.TargetExt4, "-i is not supported"},
		{"--mem-usage", config.TargetExt4, "does not save a dump"},
		{"-l /proc/vmcore out", config.TargetExt4, "adds VMCORE and DUMPFILE itself"},
		{"-R", config.TargetExt4, "-R rebuilds"},
		{"--dry-run", config.TargetExt4, "do not save a dump"},
	} {
		_, err := CoreCollector(strings.Fields(tc.args), tc.target)
		switch {
		case tc.error == "" && err != nil:
			t.Errorf("%q (%s): %v", tc.args, tc.target, err)
		case tc.error != "" && (err == nil || !strings.Contains(err.Error(), tc.error)):
			t.Errorf("%q (%s): error %v, want %q", tc.args, tc.target, err, tc.error)
		}
	}
}

// TestCheckConfig: core_collector is checked for the configured target and a problem
// is reported on its line.
func TestCheckConfig(t *testing.T) {
	for _, tc := range []struct{ conf, error string }{
		{"\n\ncore_collector makedumpfile -F -d 31\nssh a@b", ""},
		{"\n\ncore_collector makedumpfile -d 31\nssh a@b", ""},
		{"\n\ncore_collector makedumpfile -d 31\nraw /dev/vdc", "k:3: core_collector: an raw target needs the flattened format: add -F"},
		{"path /x\ncore_collector makedumpfile -l -d 99\n", "k:2: core_collector: dump level \"99\" is invalid"},
		{"path /x\n", ""}, // the default collector
	} {
		c, err := config.Parse(strings.NewReader(tc.conf), "k")
		if err != nil {
			t.Fatal(err)
		}
		err = CheckConfig(c)
		switch {
		case tc.error == "" && err != nil:
			t.Errorf("%q: %v", tc.conf, err)
		case tc.error != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.error)):
			t.Errorf("%q: error %v, want %q", tc.conf, err, tc.error)
		}
		if _, ok := err.(*config.Error); err != nil && !ok {
			t.Errorf("%q: %T, want a *config.Error", tc.conf, err)
		}
	}
}

// TestMeaning: what a checked command line means for the collector.
func TestMeaning(t *testing.T) {
	for _, tc := range []struct {
		args   string
		mode   Mode
		format collector.Format
		codec  compress.Codec
		flat   bool
		limit  int64
		levels []mm.DumpLevel
	}{
		{"-l -d 31 vm out", Dump, collector.KdumpCompressed, compress.LZO, false, 0, []mm.DumpLevel{31}},
		{"-E -d 1,31 -L 1M vm out", Dump, collector.ELF, compress.None, false, 1 << 20, []mm.DumpLevel{1, 31}},
		{"-z vm out", Dump, collector.KdumpCompressed, compress.Zstd, false, 0, []mm.DumpLevel{0}},
		{"--dry-run -L 1M vm", Dump, collector.KdumpCompressed, compress.None, false, 0, []mm.DumpLevel{0}},
		{"-F -c -L 1M -d 17 vm", Flattened, collector.KdumpCompressed, compress.Zlib, true, 0, []mm.DumpLevel{17}},
		{"-R out", Rearrange, collector.KdumpCompressed, compress.None, false, 0, []mm.DumpLevel{0}},
		{"--dump-dmesg vm log", Dmesg, collector.KdumpCompressed, compress.None, false, 0, []mm.DumpLevel{0}},
	} {
		a, err := Parse(strings.Fields(tc.args))
		if err == nil {
			err = a.Check()
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		o := a.Options()
		if a.Mode() != tc.mode || o.Format != tc.format || o.Codec != tc.codec || o.Flattened != tc.flat || o.SizeLimit != tc.limit || !reflect.DeepEqual(a.DumpLevels(), tc.levels) {
			t.Errorf("%q: mode %v format %v codec %v flattened %v limit %d levels %v", tc.args, a.Mode(), o.Format, o.Codec, o.Flattened, o.SizeLimit, a.DumpLevels())
		}
	}
	a, _ := Parse([]string{"--message-level", "5", "-D"})
	if !a.Prints(MessageProgress) || a.Prints(MessageCommon) || !a.Prints(MessageError) || !a.Prints(MessageDebug) {
		t.Errorf("message level %d", a.MessageLevel)
	}
}
