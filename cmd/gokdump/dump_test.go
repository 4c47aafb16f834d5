package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/mm"
	"github.com/gokdump/gokdump/vmcore"
)

func TestParseDumpArgs(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		want  dumpArgs
		error string
	}{
		// What kdump-utils (core_collector) and kdump-tools (MAKEDUMP_ARGS) pass.
		{args: []string{"-l", "--message-level", "7", "-d", "31", "/proc/vmcore", "out"},
			want: dumpArgs{levels: []mm.DumpLevel{31}, codec: compress.LZO, messageLevel: 7, operands: []string{"/proc/vmcore", "out"}}},
		{args: []string{"-F", "-l", "--message-level", "7", "-d", "31", "/proc/vmcore"},
			want: dumpArgs{levels: []mm.DumpLevel{31}, codec: compress.LZO, flat: true, messageLevel: 7, operands: []string{"/proc/vmcore"}}},
		{args: []string{"-c", "-d", "31", "/proc/vmcore", "out"},
			want: dumpArgs{levels: []mm.DumpLevel{31}, codec: compress.Zlib, messageLevel: 7, operands: []string{"/proc/vmcore", "out"}}},
		{args: []string{"-d31", "-z", "vm", "out"},
			want: dumpArgs{levels: []mm.DumpLevel{31}, codec: compress.Zstd, messageLevel: 7, operands: []string{"vm", "out"}}},
		{args: []string{"-ld31", "vm", "out"},
			want: dumpArgs{levels: []mm.DumpLevel{31}, codec: compress.LZO, messageLevel: 7, operands: []string{"vm", "out"}}},
		{args: []string{"-Epd", "1", "vm", "out"}, // getopt: -E -p -d 1
			want: dumpArgs{levels: []mm.DumpLevel{1}, codec: compress.Snappy, elf: true, messageLevel: 7, operands: []string{"vm", "out"}}},
		{args: []string{"vm", "out", "--message-level=31", "--num-th", "3", "--show-stats", "--json", "-d", "1,31"},
			want: dumpArgs{levels: []mm.DumpLevel{1, 31}, messageLevel: 31, threads: 3, showStats: true, json: true, operands: []string{"vm", "out"}}},
		{args: []string{"-R", "out"}, want: dumpArgs{rearrange: true, messageLevel: 7, operands: []string{"out"}}},
		{args: []string{"-f", "-L", "2M", "--dry-run", "--", "-vm"},
			want: dumpArgs{force: true, sizeLimit: 2 << 20, dryRun: true, messageLevel: 7, operands: []string{"-vm"}}},
		{args: []string{"--cyclic-buffer", "4", "--non-mmap", "vm", "out"},
			want: dumpArgs{windowPFNs: 4 * 1024 * 8, messageLevel: 7, operands: []string{"vm", "out"}}},
		{args: []string{"-Q", "vm", "out"}, error: "unknown option -Q"},
		{args: []string{"--bogus", "vm", "out"}, error: "unknown option --bogus"},
		{args: []string{"--split", "vm", "a", "b"}, error: "option --split is not supported"},
		{args: []string{"-x", "vmlinux", "vm", "out"}, error: "option -x is not supported"},
		{args: []string{"-d", "32", "vm", "out"}, error: "dump level \"32\" is invalid"},
		{args: []string{"-d"}, error: "option -d needs an argument"},
		{args: []string{"--message-level", "x"}, error: "--message-level \"x\""},
		{args: []string{"--show-stats=1"}, error: "takes no argument"},
	} {
		got, err := parseDumpArgs(tc.args)
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

func TestDumpArgsCheck(t *testing.T) {
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
		a, err := parseDumpArgs(tc.args)
		if err == nil {
			err = a.check()
		}
		if (err == nil) != (tc.error == "") || err != nil && !strings.Contains(err.Error(), tc.error) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.error)
		}
	}
}

func synthVmcore(t *testing.T) (dir, path string) {
	t.Helper()
	c, err := synth.New(synth.Default())
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	path, err = c.WriteFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func runAs(t *testing.T, argv0 string, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var o, e bytes.Buffer
	if stdin == nil {
		code := run(context.Background(), append([]string{argv0}, args...), &o, &e)
		return code, o.String(), e.String()
	}
	en := &env{stdout: &o, stderr: &e, stdin: bytes.NewReader(stdin)}
	code := commands["dump"].run(context.Background(), en, args)
	return code, o.String(), e.String()
}

func TestDumpAsMakedumpfile(t *testing.T) {
	dir, vm := synthVmcore(t)
	out := filepath.Join(dir, "vmcore.kdump")
	code, stdout, stderr := runAs(t, "/usr/sbin/makedumpfile", nil, "-l", "--message-level", "7", "-d", "31", vm, out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "The dumpfile is saved to "+out) {
		t.Errorf("stdout %q", stdout)
	}
	// The synthetic kernel has no struct page keys: the dump keeps all but zero pages, and says so.
	if !strings.Contains(stderr, "keeping every page but zero pages") {
		t.Errorf("no warning about classification: %q", stderr)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("output %v, mode %v: want 0600", err, fi)
	}
	f, err := vmcore.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Format != vmcore.FormatKdump || f.Kdump.Codec != compress.LZO || f.Kdump.DumpLevel() != 31 {
		t.Errorf("format %v codec %v level %d", f.Format, f.Kdump.Codec, f.Kdump.DumpLevel())
	}

	// An existing DUMPFILE is refused, as makedumpfile does, and left alone.
	before, _ := os.ReadFile(out)
	code, _, stderr = runAs(t, "makedumpfile", nil, "-d", "1", vm, out)
	if code == 0 || !strings.Contains(stderr, "exists") {
		t.Errorf("existing output: exit %d, %q", code, stderr)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Error("the existing output was changed")
	}
	// -f overwrites.
	if code, _, stderr = runAs(t, "makedumpfile", nil, "-f", "-E", "-d", "1", vm, out); code != 0 {
		t.Fatalf("-f: exit %d: %s", code, stderr)
	}
	if g, err := vmcore.Open(out); err != nil || g.Format != vmcore.FormatELF {
		t.Errorf("-f -E: %v", err)
	}
}

// TestDumpFlattened: -F writes the flattened stream to stdout, -R rebuilds the file
// from stdin, byte for byte the file a direct dump writes.
func TestDumpFlattened(t *testing.T) {
	dir, vm := synthVmcore(t)
	direct := filepath.Join(dir, "direct")
	if code, _, stderr := runAs(t, "gokdump", nil, "dump", "-z", "-d", "31", vm, direct); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, flat, stderr := runAs(t, "makedumpfile", nil, "-F", "-z", "--message-level", "7", "-d", "31", vm)
	if code != 0 || !strings.HasPrefix(flat, "makedumpfile\x00") {
		t.Fatalf("-F: exit %d, %d bytes: %s", code, len(flat), stderr)
	}
	if !strings.Contains(stderr, "Completed") {
		t.Errorf("-F: messages should go to stderr: %q", stderr)
	}
	rebuilt := filepath.Join(dir, "rebuilt")
	if code, _, stderr := runAs(t, "makedumpfile", []byte(flat), "-R", rebuilt); code != 0 {
		t.Fatalf("-R: exit %d: %s", code, stderr)
	}
	a, _ := os.ReadFile(direct)
	b, _ := os.ReadFile(rebuilt)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("rebuilt file (%d bytes) differs from the direct one (%d bytes)", len(b), len(a))
	}
	if code, _, stderr := runAs(t, "makedumpfile", []byte(flat[:len(flat)/2]), "-R", filepath.Join(dir, "half")); code == 0 || !strings.Contains(stderr, "flattened") {
		t.Errorf("-R of a cut stream: exit %d, %q", code, stderr)
	}
}

func TestDumpStatsJSON(t *testing.T) {
	dir, vm := synthVmcore(t)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runAs(t, "gokdump", nil, "dump", "--show-stats", "--json", "--message-level", "4", "-l", "-d", "1", vm, out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var st collector.Stats
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	fi, _ := os.Stat(out)
	if st.OriginalPages != 64<<20/4096 || st.ExcludedZero == 0 || st.RemainingPages+st.ExcludedPages != st.OriginalPages ||
		st.BytesWritten != fi.Size() || st.Codec != "lzo" || st.DumpLevel != 1 {
		t.Errorf("stats %+v (file %d bytes)", st, fi.Size())
	}
	// The text report has makedumpfile's lines.
	code, stdout, _ = runAs(t, "gokdump", nil, "dump", "--show-stats", "--message-level", "0", "--dry-run", "-d", "1", vm)
	for _, l := range []string{"Original pages  : 0x0000000000004000", "Pages filled with zero  : 0x", "Total pages     : 0x0000000000004000", "Write bytes     : "} {
		if !strings.Contains(stdout, l) {
			t.Errorf("report lacks %q:\n%s", l, stdout)
		}
	}
	if code != 0 {
		t.Errorf("--dry-run: exit %d", code)
	}
}

func TestDumpSizeLimit(t *testing.T) {
	dir, vm := synthVmcore(t)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runAs(t, "makedumpfile", nil, "-L", "200K", "-d", "0", vm, out)
	if code == 0 || !strings.Contains(stderr, "size limit") || !strings.Contains(stdout, "incomplete") {
		t.Fatalf("exit %d, %q, %q", code, stdout, stderr)
	}
	f, err := vmcore.Open(out)
	if err != nil {
		t.Fatalf("the cut dump does not open: %v", err)
	}
	defer f.Close()
	if !f.Incomplete() || f.Size > 200<<10 {
		t.Errorf("incomplete %v, %d bytes", f.Incomplete(), f.Size)
	}
	// With a second level, a dump that does not fit is retried, as makedumpfile does.
	out2 := filepath.Join(dir, "out2")
	code, _, stderr = runAs(t, "makedumpfile", nil, "-L", "2M", "-d", "0,1", vm, out2)
	if code != 0 || !strings.Contains(stderr, "retrying with level 1") {
		t.Errorf("retry: exit %d, %q", code, stderr)
	}
}

func TestDumpErrors(t *testing.T) {
	dir, vm := synthVmcore(t)
	code, _, stderr := runAs(t, "makedumpfile", nil, "--mem-usage", vm)
	if code != 2 || !strings.Contains(stderr, "--mem-usage") {
		t.Errorf("unsupported option: exit %d, %q", code, stderr)
	}
	missing := filepath.Join(dir, "out")
	code, _, stderr = runAs(t, "makedumpfile", nil, "-d", "31", filepath.Join(dir, "nope"), missing)
	if code != 1 || !strings.Contains(stderr, "nope") {
		t.Errorf("missing vmcore: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("an output file was left behind")
	}
	if code, _, _ := runAs(t, "makedumpfile", nil, "--check-params", "-l", "-d", "31"); code != 0 {
		t.Errorf("--check-params: exit %d", code)
	}
	if code, out, _ := runAs(t, "makedumpfile", nil, "--help"); code != 0 || !strings.Contains(out, "-d LEVEL") {
		t.Errorf("--help: exit %d", code)
	}
	_ = vm
}

// FuzzParseDumpArgs: any command line gives options or an error, never a panic, and
// the options it gives pass or fail check without panicking either.
func FuzzParseDumpArgs(f *testing.F) {
	for _, s := range []string{"-l --message-level 7 -d 31 /proc/vmcore out", "-ld31 a b", "-F -c -d 31 a", "-R out", "--num-th=2 -L 1G a b", "-d 1,31 -- -x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		a, err := parseDumpArgs(strings.Fields(line))
		if err != nil {
			return
		}
		_ = a.check()
		for _, l := range a.levels {
			if l > mm.MaxDumpLevel {
				t.Fatalf("%q: level %d accepted", line, l)
			}
		}
	})
}
