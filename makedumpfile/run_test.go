package makedumpfile

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/printk/printktest"
)

func command(t *testing.T, args ...string) *Command {
	t.Helper()
	a, err := Parse(args)
	if err == nil {
		err = a.Check()
	}
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return a
}

// TestRunDump: the level retry, the flattened stream and -R's rebuild, and no file left
// behind by a dump that failed.
func TestRunDump(t *testing.T) {
	_, vm := synth.Temp(t, synth.Default())
	dir := filepath.Dir(vm)
	out := filepath.Join(dir, "out")
	a := command(t, "-L", "2M", "-d", "0,1", vm, out)
	var warned []string
	opts := a.Options()
	opts.Warn = func(m string) { warned = append(warned, m) }
	st, name, err := a.RunDump(context.Background(), nil, opts)
	if err != nil || name != out || st.DumpLevel != 1 || !strings.Contains(strings.Join(warned, "\n"), "retrying with level 1") {
		t.Fatalf("retry: %v, %s, %+v, warnings %q", err, name, st, warned)
	}
	direct, _ := os.ReadFile(out)

	var flat bytes.Buffer
	a = command(t, "-F", "-d", "1", vm)
	if _, name, err := a.RunDump(context.Background(), &flat, a.Options()); err != nil || name != "standard output" {
		t.Fatalf("-F: %v, %s", err, name)
	}
	rebuilt := filepath.Join(dir, "rebuilt")
	if err := command(t, "-R", rebuilt).RunRearrange(&flat); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(rebuilt); !bytes.Equal(b, direct) {
		t.Errorf("the rebuilt dump (%d bytes) differs from the direct one (%d bytes)", len(b), len(direct))
	}

	if err := command(t, "-R", filepath.Join(dir, "bad")).RunRearrange(strings.NewReader("makedumpfile")); err == nil || !strings.Contains(err.Error(), "flattened") {
		t.Errorf("-R of a cut stream: %v", err)
	}
	// A dump that cannot be made leaves no file.
	notMade := filepath.Join(dir, "out2")
	a = command(t, "-d", "1", filepath.Join(dir, "missing"), notMade)
	if _, _, err := a.RunDump(context.Background(), nil, a.Options()); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing vmcore: %v", err)
	}
	if _, err := os.Stat(notMade); err == nil {
		t.Error("a failed dump left its file behind")
	}
}

// TestRunDmesg: --dump-dmesg writes the log in makedumpfile's layout, mode 0600, and
// reports a dump without a log.
func TestRunDmesg(t *testing.T) {
	ring := printktest.NewLockless(5, 12)
	if _, err := ring.Add(printktest.Message{Text: "Kernel panic - not syncing: sysrq triggered crash", TimestampNs: 6_436_000_000, Level: 0}); err != nil {
		t.Fatal(err)
	}
	cfg := synth.Default()
	cfg.AddImage(0x1000000, ring.Image)
	_, vm := synth.Temp(t, cfg)
	dir := filepath.Dir(vm)
	log := filepath.Join(dir, "dmesg.txt")
	if err := command(t, "--dump-dmesg", vm, log).RunDmesg(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log)
	if fi, _ := os.Stat(log); err != nil || fi.Mode().Perm() != 0o600 || !strings.Contains(string(b), "Kernel panic - not syncing: sysrq triggered crash") {
		t.Errorf("log file %q (%v)", b, err)
	}
	if err := command(t, "--dump-dmesg", vm, log).RunDmesg(); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("existing log file: %v", err)
	}
	_, bare := synth.Temp(t, synth.Default())
	if err := command(t, "--dump-dmesg", bare, filepath.Join(dir, "none")).RunDmesg(); err == nil || !strings.Contains(err.Error(), "no kernel log") {
		t.Errorf("no log: %v", err)
	}
}
