package kexec

import (
	"strings"
	"testing"
)

// TestBuildCaptureCmdline: KDUMP_COMMANDLINE replaces the running kernel's command
// line, KDUMP_COMMANDLINE_REMOVE takes parameters out of it and of gokdump's own
// capture options by name, the append list comes last and wins; crashkernel= and
// the like go whatever the base.
func TestBuildCaptureCmdline(t *testing.T) {
	defaults := strings.Join(DefaultCaptureOptions, " ")
	for _, tc := range []struct {
		name string
		spec CmdlineSpec
		want string
	}{
		{"current", CmdlineSpec{Current: "root=/dev/vda1 ro quiet crashkernel=256M"}, "root=/dev/vda1 ro " + defaults},
		// Seen on a host whose capture then could not load ext4 (found by gokdump test --vm).
		{"nomodule", CmdlineSpec{Current: "reboot=k nomodule ro"}, "reboot=k ro " + defaults},
		{"base replaces current", CmdlineSpec{Current: "root=/dev/vda1 ro", Base: "root=LABEL=r rw crashkernel=1G"}, "root=LABEL=r rw " + defaults},
		{"blank base", CmdlineSpec{Current: "ro", Base: "  "}, "ro " + defaults},
		{"remove from base and defaults", CmdlineSpec{Current: "ro console=tty0 splash cma=64M", Remove: []string{"splash", "irqpoll", "cma", "nokaslr"}},
			"ro console=tty0 nr_cpus=1 reset_devices cgroup_disable=memory mce=off numa=off transparent_hugepage=never acpi_no_memhotplug panic=10"},
		{"remove by key with dashes", CmdlineSpec{Current: "ro log-buf-len=1M foo_bar=1", Remove: []string{"foo-bar"}}, "ro " + defaults},
		{"append wins", CmdlineSpec{Current: "ro console=tty0", Extra: []string{"nr_cpus=4", "console=ttyS0,115200", "rdinit=/init"}},
			"ro irqpoll reset_devices cgroup_disable=memory mce=off numa=off transparent_hugepage=never acpi_no_memhotplug panic=10 nokaslr nr_cpus=4 console=ttyS0,115200 rdinit=/init"},
		{"removed then appended", CmdlineSpec{Current: "ro cma=64M", Remove: []string{"cma"}, Extra: []string{"cma=0"}}, "ro " + defaults + " cma=0"},
		{"init args kept", CmdlineSpec{Current: "ro -- single", Base: "rw -- emergency"}, "rw " + defaults + " -- emergency"},
	} {
		if got := BuildCaptureCmdline(tc.spec); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
	if got, want := CaptureCmdline("ro quiet", []string{"x=1"}), BuildCaptureCmdline(CmdlineSpec{Current: "ro quiet", Extra: []string{"x=1"}}); got != want {
		t.Errorf("CaptureCmdline %q, BuildCaptureCmdline %q", got, want)
	}
}

func TestLast(t *testing.T) {
	line := `root=/dev/sda module_blacklist=nouveau,ext4 quiet module-blacklist="xfs" nomodule -- module_blacklist=init`
	if got, ok := Last(line, "module_blacklist"); !ok || got != `module-blacklist="xfs"` {
		t.Errorf("Last = %q, %v, want the last one before --, as written", got, ok)
	}
	if got, ok := Last(line, "quiet"); !ok || got != "quiet" {
		t.Errorf("a flag without a value: %q, %v", got, ok)
	}
	if got, ok := Last(line, "nr_cpus"); ok {
		t.Errorf("Last of an absent parameter = %q", got)
	}
}
