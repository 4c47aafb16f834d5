package config

import (
	"strings"
	"testing"
)

// TestFedoraDefault reads a kdump.conf in the form Fedora's kdump-utils generates
// (testdata/fedora-kdump.conf is our own text with the same directives and
// layout: no Fedora mirror is reachable from CI to take the real one).
func TestFedoraDefault(t *testing.T) {
	c, err := Load("testdata/fedora-kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.Lines["auto_reset_crashkernel"] == 0 || !c.AutoResetCrashkernel || c.Path != "/var/crash" ||
		c.Collector.String() != "makedumpfile -l --message-level 7 -d 31" || c.Target.Kind != TargetRootfs || len(c.Warnings) != 0 {
		t.Errorf("Fedora's default: %+v", c)
	}
}

// kdumpUtilsDirectives are the directives kdump-utils' kdumpctl (parse_config)
// accepts, each with a value that it accepts, and those it refuses as deprecated.
var kdumpUtilsDirectives = map[string]string{
	"auto_reset_crashkernel": "yes", "raw": "/dev/vg/lv_kdump", "nfs": "server:/export/tmp", "ssh": "user@server",
	"ext2": "/dev/vdb", "ext3": "/dev/vdb", "ext4": "LABEL=kdump", "xfs": "UUID=03138356-5e61-4ab3-b58e-27507ac41937",
	"btrfs": "/dev/vdb", "minix": "/dev/vdb", "virtiofs": "myfs", "path": "/var/crash",
	"core_collector": "makedumpfile -l --message-level 7 -d 31", "kdump_emergency": "/usr/bin/e", "kdump_post": "/usr/bin/post",
	"kdump_pre": "/usr/bin/pre", "extra_bins": "/usr/bin/lftp", "extra_modules": "gfs2", "failure_action": "shell",
	"default": "shell", "final_action": "poweroff", "force_rebuild": "1", "force_no_rebuild": "1",
	"dracut_args": `--omit-drivers "cfg80211 snd"`, "fence_kdump_args": "-p 7410 -f auto", "fence_kdump_nodes": "node1 node2",
}

var kdumpUtilsDeprecated = []string{"net", "options", "link_delay", "disk_timeout", "debug_mem_level", "blacklist"}

// TestKdumpUtilsDirectives: every directive of kdump-utils' kdump.conf is read
// (what gokdump does not do is refused later, by service.CheckDirectives), and its
// deprecated ones are refused, as kdumpctl refuses them.
func TestKdumpUtilsDirectives(t *testing.T) {
	for k, v := range kdumpUtilsDirectives {
		in := k + " " + v + "\n"
		if k == "sshkey" {
			in = "ssh a@b\n" + in
		}
		c, err := Parse(strings.NewReader(in), "kdump.conf")
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		key := k
		if k == "default" {
			key = "failure_action"
		}
		if c.Lines[key] == 0 {
			t.Errorf("%q: not recorded in Lines", in)
		}
	}
	if _, err := Parse(strings.NewReader("ssh a@b\nsshkey /root/.ssh/kdump_id_rsa\n"), "k"); err != nil {
		t.Error(err)
	}
	for _, k := range kdumpUtilsDeprecated {
		_, err := Parse(strings.NewReader(k+" x\n"), "kdump.conf")
		if err == nil || !strings.Contains(err.Error(), "kdump.conf:1: deprecated directive") {
			t.Errorf("%s: %v", k, err)
		}
	}
}
