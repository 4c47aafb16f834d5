package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/lab/plan"
)

func TestRunCommands(t *testing.T) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	falsePath, _ := exec.LookPath("false")
	sleepPath, _ := exec.LookPath("sleep")
	envPath, _ := exec.LookPath("env")
	var con bytes.Buffer
	g := &labGuest{plan: &plan.Plan{}, con: &con}
	ctx := context.Background()
	cmds := []plan.Command{
		plan.Cmd(envPath),
		{Argv: []string{falsePath}, MayFail: true},
		plan.Cmd(truePath, "x"),
	}
	if err := g.runCommands(ctx, "setup", cmds); err != nil {
		t.Fatal(err)
	}
	out := con.String()
	for _, want := range []string{
		"GOKDUMP-LAB run setup: " + envPath, "DM_DISABLE_UDEV=1", "GOKDUMP-LAB ran setup: ok",
		"GOKDUMP-LAB ran setup: failed", "may fail", "GOKDUMP-LAB run setup: " + truePath + " x",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	// A failure stops the phase: the next command does not run.
	con.Reset()
	err = g.runCommands(ctx, "after-arm", []plan.Command{plan.Cmd(falsePath), plan.Cmd(truePath, "never")})
	if err == nil || !strings.Contains(err.Error(), "after-arm[0] "+falsePath) || strings.Contains(con.String(), "never") {
		t.Errorf("failing command: %v\n%s", err, con.String())
	}
	// A command past its timeout is killed.
	err = g.runCommands(ctx, "setup", []plan.Command{{Argv: []string{sleepPath, "30"}, TimeoutSeconds: 1}})
	if err == nil || !strings.Contains(err.Error(), "killed after 1s") {
		t.Errorf("timeout: %v", err)
	}
	// A disk that never appears is an error, not a hang.
	err = g.runCommands(ctx, "setup", []plan.Command{plan.Cmd(truePath, plan.DiskRef("gokdump-none"))})
	if err == nil || !strings.Contains(err.Error(), `no disk with serial "gokdump-none"`) {
		t.Errorf("missing disk: %v", err)
	}
}

func TestWipe(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "disk")
	if err := os.WriteFile(dev, bytes.Repeat([]byte{0xaa}, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runBuiltin([]string{plan.BuiltinWipe, dev, "4096", "2097152"}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(dev)
	if len(data) != 3<<20 || data[4095] != 0xaa || data[4096] != 0 || data[4096+2<<20-1] != 0 || data[4096+2<<20] != 0xaa {
		t.Errorf("wipe wrote the wrong bytes (len %d)", len(data))
	}
	for _, argv := range [][]string{
		{plan.BuiltinWipe, dev, "-1", "10"},
		{plan.BuiltinWipe, dev, "0", "0x10"},
		{plan.BuiltinWipe, filepath.Join(t.TempDir(), "absent"), "0", "10"},
		{plan.BuiltinUmount, filepath.Join(t.TempDir(), "not-mounted")},
		{"lab:nothing"},
	} {
		if err := runBuiltin(argv); err == nil {
			t.Errorf("%q: no error", argv)
		}
	}
}
