package lab

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/lab/plan"
)

func TestConsoleLines(t *testing.T) {
	log := filepath.Join(t.TempDir(), "console.log")
	con := strings.Join([]string{
		"[    1.000000] Run /init as init process",
		plan.Line("release=6.1.0-56-amd64") + "\r",
		"[    2.5] virtio_blk virtio1: [vdb] 16384 512-byte logical blocks " + plan.Line("%s", plan.EventArmed),
		"[    3.1] sysrq: Trigger a crash",
		// The capture kernel of service mode: gokdump's own init, no lab lines.
		"gokdump: mounting the dump target ext4 LABEL=gokdump-dumps",
		"[    9.9] random: crng init done" + plan.InitErrorPrefix + "capture: /etc/kdump.conf: line 3: unknown option \"frobnicate\"\r",
		"gokdump init: power off: operation not permitted",
	}, "\n") + "\n"
	if err := os.WriteFile(log, []byte(con), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, initErrs, err := consoleLines(log)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"release=6.1.0-56-amd64", plan.EventArmed}; !reflect.DeepEqual(lines, want) {
		t.Errorf("lab lines %q, want %q", lines, want)
	}
	want := []string{plan.InitErrorPrefix + "capture: /etc/kdump.conf: line 3: unknown option \"frobnicate\""}
	if !reflect.DeepEqual(initErrs, want) {
		t.Errorf("init errors %q, want %q", initErrs, want)
	}
}

// TestInitErrorPrefixIsGokdumps: the host recognises gokdump's init error line by
// plan.InitErrorPrefix, the product's own text (the product imports no lab package, so
// the two cannot share a constant): the product's source must print exactly it.
func TestInitErrorPrefixIsGokdumps(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "cmd", "gokdump", "init_linux.go"))
	if err != nil {
		t.Fatal(err)
	}
	if lit := strconv.Quote(plan.InitErrorPrefix + "%v\n"); !strings.Contains(string(src), lit) {
		t.Errorf("cmd/gokdump/init_linux.go does not print %s: the lab host would miss gokdump's init errors", lit)
	}
}
