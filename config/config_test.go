package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaults(t *testing.T) {
	c, err := Parse(strings.NewReader("# only a comment\n\n   \n"), "kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != "/var/crash" || c.FailureAction != ActionReboot || c.FinalAction != ActionReboot ||
		c.Target.Kind != TargetRootfs || c.KeepDumps != 0 || c.ForceRebuild || c.ForceNoRebuild {
		t.Errorf("defaults: %+v", c)
	}
	if got := c.Collector.String(); got != "makedumpfile -l --message-level 7 -d 31" {
		t.Errorf("default collector %q", got)
	}
	// The default collector must not share its slice with DefaultCollector.
	c.Collector.Args[0] = "-c"
	if DefaultCollector.Args[0] != "-l" {
		t.Error("Default shares DefaultCollector.Args")
	}
}

// TestDirectives checks every directive's accepted forms.
func TestDirectives(t *testing.T) {
	tests := []struct {
		name, in string
		check    func(c *Config) bool
	}{
		{"path", "path /srv/crash/", func(c *Config) bool { return c.Path == "/srv/crash" }},
		{"path tab and comment", "path\t/srv/crash   # where\n", func(c *Config) bool { return c.Path == "/srv/crash" }},
		{"collector makedumpfile", "core_collector makedumpfile -c -d 1", func(c *Config) bool {
			return c.Collector.Program == "makedumpfile" && reflect.DeepEqual(c.Collector.Args, []string{"-c", "-d", "1"}) && c.Collector.Line == 1
		}},
		{"collector full path", "core_collector /usr/sbin/makedumpfile -l", func(c *Config) bool {
			return c.Collector.Program == "makedumpfile" && reflect.DeepEqual(c.Collector.Args, []string{"-l"})
		}},
		{"collector gokdump dump", "core_collector gokdump dump -z -d 31", func(c *Config) bool {
			return c.Collector.Program == "gokdump dump" && reflect.DeepEqual(c.Collector.Args, []string{"-z", "-d", "31"})
		}},
		{"collector no options", "core_collector makedumpfile", func(c *Config) bool {
			return c.Collector.Program == "makedumpfile" && len(c.Collector.Args) == 0
		}},
		{"ext4 device", "ext4 /dev/vdb1", func(c *Config) bool {
			return c.Target == Target{Kind: TargetExt4, Spec: "/dev/vdb1", Device: "/dev/vdb1", Line: 1}
		}},
		{"xfs label", "xfs LABEL=dumps", func(c *Config) bool {
			return c.Target.Kind == TargetXFS && c.Target.Label == "dumps" && c.Target.Device == ""
		}},
		{"btrfs uuid", "btrfs UUID=0A1B2C3D-1111-2222-3333-444455556666", func(c *Config) bool {
			return c.Target.Kind == TargetBtrfs && c.Target.UUID == "0a1b2c3d-1111-2222-3333-444455556666" && c.Target.Kind.IsFilesystem()
		}},
		{"raw", "raw /dev/disk/by-partlabel/crash", func(c *Config) bool {
			return c.Target.Kind == TargetRaw && c.Target.Device == "/dev/disk/by-partlabel/crash" && !c.Target.Kind.IsFilesystem()
		}},
		{"ssh", "ssh kdump@10.0.0.1\nsshkey /root/.ssh/kdump_id_rsa", func(c *Config) bool {
			return c.Target.Kind == TargetSSH && c.Target.User == "kdump" && c.Target.Host == "10.0.0.1" && c.SSHKey == "/root/.ssh/kdump_id_rsa"
		}},
		{"ssh port", "ssh kdump@dumps.example:2222", func(c *Config) bool {
			return c.Target.Host == "dumps.example" && c.Target.Port == 2222 && c.Target.User == "kdump"
		}},
		{"ssh v6 port", "ssh kdump@[2001:db8::1]:22\nkdump_dhcp 1", func(c *Config) bool {
			return c.Target.Host == "2001:db8::1" && c.Target.Port == 22 && c.DHCP
		}},
		{"nfs v6", "nfs [fd00::1]:/srv/dumps", func(c *Config) bool {
			return c.Target.Kind == TargetNFS && c.Target.Host == "fd00::1" && c.Target.Export == "/srv/dumps"
		}},
		{"nfs", "nfs server:/export/crash/", func(c *Config) bool {
			return c.Target.Kind == TargetNFS && c.Target.Host == "server" && c.Target.Export == "/export/crash"
		}},
		{"hooks", "kdump_pre /usr/local/bin/pre.sh\nkdump_post /usr/local/bin/post", func(c *Config) bool {
			return c.Pre == "/usr/local/bin/pre.sh" && c.Post == "/usr/local/bin/post"
		}},
		{"extra_bins repeat", "extra_bins /bin/sh /usr/bin/logger\nextra_bins /bin/sh /usr/bin/ip", func(c *Config) bool {
			return reflect.DeepEqual(c.ExtraBins, []string{"/bin/sh", "/usr/bin/logger", "/usr/bin/ip"})
		}},
		{"extra_modules", "extra_modules megaraid-sas sd_mod\nextra_modules nvme", func(c *Config) bool {
			return reflect.DeepEqual(c.ExtraModules, []string{"megaraid_sas", "sd_mod", "nvme"})
		}},
		{"failure shell", "failure_action shell", func(c *Config) bool { return c.FailureAction == ActionShell }},
		{"failure dump_to_rootfs", "ext4 /dev/vdb\nfailure_action dump_to_rootfs", func(c *Config) bool { return c.FailureAction == ActionDumpToRootfs }},
		{"failure halt", "failure_action halt", func(c *Config) bool { return c.FailureAction == ActionHalt }},
		{"final poweroff", "final_action poweroff", func(c *Config) bool { return c.FinalAction == ActionPoweroff }},
		{"final halt", "final_action halt", func(c *Config) bool { return c.FinalAction == ActionHalt }},
		{"force_rebuild", "force_rebuild 1", func(c *Config) bool { return c.ForceRebuild && !c.ForceNoRebuild }},
		{"force_no_rebuild", "force_no_rebuild 1\nforce_rebuild 0", func(c *Config) bool { return c.ForceNoRebuild && !c.ForceRebuild }},
		{"keep_dumps", "keep_dumps 3", func(c *Config) bool { return c.KeepDumps == 3 }},
		{"leading space", "   path /x", func(c *Config) bool { return c.Path == "/x" && c.Lines["path"] == 1 }},
		{"default is failure_action", "default shell", func(c *Config) bool {
			return c.FailureAction == ActionShell && c.Lines["failure_action"] == 1 && len(c.Warnings) == 1 &&
				strings.Contains(c.Warnings[0], "kdump.conf:1: directive default is deprecated") && strings.Contains(c.Warnings[0], "failure_action")
		}},
		{"auto_reset_crashkernel default", "", func(c *Config) bool { return c.AutoResetCrashkernel }},
		{"auto_reset_crashkernel no", "auto_reset_crashkernel no", func(c *Config) bool { return !c.AutoResetCrashkernel && c.Lines["auto_reset_crashkernel"] == 1 }},
		{"auto_reset_crashkernel yes", "auto_reset_crashkernel yes", func(c *Config) bool { return c.AutoResetCrashkernel }},
		{"ext3 is ext4", "ext3 LABEL=old", func(c *Config) bool {
			return c.Target.Kind == TargetExt4 && c.Target.Label == "old" && c.Lines["ext3"] == 1 && len(c.Warnings) == 1 && strings.Contains(c.Warnings[0], "ext4 driver")
		}},
		{"ext2 is ext4", "ext2 /dev/vdb1", func(c *Config) bool { return c.Target.Kind == TargetExt4 && c.Lines["ext2"] == 1 }},
		{"unsupported recorded", "dracut_args --omit-drivers \"cfg80211 snd\"\nfence_kdump_nodes node1 node2\nfence_kdump_args -p 7410\nkdump_emergency /bin/e\nvirtiofs myfs", func(c *Config) bool {
			return reflect.DeepEqual(c.Unsupported, map[string]string{"dracut_args": `--omit-drivers "cfg80211 snd"`, "fence_kdump_nodes": "node1 node2",
				"fence_kdump_args": "-p 7410", "kdump_emergency": "/bin/e", "virtiofs": "myfs"}) && c.Lines["virtiofs"] == 5 && c.Target.Kind == TargetRootfs
		}},
		{"minix recorded", "minix /dev/vdb", func(c *Config) bool { return c.Unsupported["minix"] == "/dev/vdb" && c.Lines["minix"] == 1 }},
		{"commandline", "kdump_commandline ro root=/dev/vda1  console=ttyS0", func(c *Config) bool { return c.CmdlineBase == "ro root=/dev/vda1 console=ttyS0" }},
		{"commandline remove and append", "kdump_commandline_remove quiet irqpoll\nkdump_commandline_append console=ttyS0,115200 \nkdump_commandline_remove quiet splash\nkdump_commandline_append rd.debug", func(c *Config) bool {
			return reflect.DeepEqual(c.CmdlineRemove, []string{"quiet", "irqpoll", "splash"}) && reflect.DeepEqual(c.CmdlineAppend, []string{"console=ttyS0,115200", "rd.debug"})
		}},
		// The kernel counts the later of two module_blacklist=: a parameter given
		// again moves to the end, so the last line's stays last.
		{"commandline append again", "kdump_commandline_append module_blacklist=a\nkdump_commandline_append module_blacklist=b quiet\nkdump_commandline_append module_blacklist=a", func(c *Config) bool {
			return reflect.DeepEqual(c.CmdlineAppend, []string{"module_blacklist=b", "quiet", "module_blacklist=a"}) &&
				reflect.DeepEqual(c.CmdlineAppendFrom["module_blacklist=a"], []string{"kdump.conf:1", "kdump.conf:3"})
		}},
		{"kernelver", "kdump_kernelver 6.1.0-28-amd64", func(c *Config) bool { return c.KernelVersion == "6.1.0-28-amd64" }},
		{"layout debian", "dump_layout debian", func(c *Config) bool { return c.Layout == LayoutDebian }},
		{"layout fedora", "dump_layout fedora", func(c *Config) bool { return c.Layout == LayoutFedora && c.Lines["dump_layout"] == 1 }},
		{"dump_dmesg 0", "dump_dmesg 0", func(c *Config) bool { return c.NoDmesg }},
		{"dump_dmesg 1", "dump_dmesg 1", func(c *Config) bool { return !c.NoDmesg }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.in), "kdump.conf")
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("%q parsed as %+v", tt.in, c)
			}
		})
	}
}

// TestErrors checks that each bad file is refused with the file, the line and a
// message naming the problem.
func TestErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		want     string
	}{
		{"unknown", "path /x\nbogus 1", 2, `unknown directive "bogus"`},
		{"deprecated net", "net user@host", 1, `deprecated directive "net"`},
		{"deprecated options", "options virtio_blk x=1", 1, `deprecated directive "options"`},
		{"deprecated blacklist", "blacklist nouveau", 1, "deprecated"},
		{"missing value", "path", 1, "path: missing value"},
		{"relative path", "path var/crash", 1, "absolute path"},
		{"path with space", "path /var/my crash", 1, "one path"},
		{"duplicate path", "path /a\n\npath /b", 3, "path given twice (first on line 1)"},
		{"duplicate collector", "core_collector makedumpfile\ncore_collector makedumpfile", 2, "given twice"},
		{"two targets", "ext4 /dev/vdb\nxfs /dev/vdc", 2, "only one dump target"},
		{"two same targets", "ext4 /dev/vdb\next4 /dev/vdc", 2, "given twice"},
		{"collector cp", "core_collector cp --sparse=always", 1, "cp, dd and scp"},
		{"collector gokdump other", "core_collector gokdump info", 1, "want makedumpfile"},
		{"collector quoting", "core_collector makedumpfile -d '31'", 1, "quoting"},
		{"target not a device", "ext4 vdb1", 1, "want a device"},
		{"target two words", "ext4 /dev/vdb /dev/vdc", 1, "one value"},
		{"empty label", "ext4 LABEL=", 1, "needs a label"},
		{"bad uuid", "xfs UUID=not-a-uuid", 1, "not a file system UUID"},
		{"unclean device", "raw /dev/../etc/passwd", 1, "not a clean path"},
		{"ssh no user", "ssh host", 1, "want user@host"},
		{"nfs no export", "nfs server", 1, "want host:/export"},
		{"nfs relative", "nfs server:export", 1, "want host:/export"},
		{"nfs bad v6", "nfs [server]:/x", 1, "not an IPv6 address"},
		{"ssh bad port", "ssh a@b:0", 1, `port "0"`},
		{"ssh port word", "ssh a@b:ssh", 1, `port "ssh"`},
		{"ssh option user", "ssh -oProxyCommand=x@b", 1, "want user@host"},
		{"ssh shell host", "ssh a@b;reboot", 1, "want user@host"},
		{"ssh v6 unbracketed", "ssh a@fd00::1", 1, "want user@host"},
		{"kdump_dhcp local", "kdump_dhcp 1", 1, "only used with an ssh or nfs target"},
		{"sshkey relative", "ssh a@b\nsshkey id_rsa", 2, "absolute path"},
		{"sshkey without ssh", "sshkey /root/.ssh/id", 1, "only used with an ssh target"},
		{"hook with args", "kdump_pre /bin/echo hi", 1, "put arguments in a script"},
		{"relative extra_bins", "extra_bins /bin/sh ls", 1, `not "ls"`},
		{"module path", "extra_modules /lib/x.ko", 1, "module names"},
		{"failure bad", "failure_action explode", 1, "reboot, halt, poweroff, shell or dump_to_rootfs"},
		{"final shell", "final_action shell", 1, "want reboot, halt or poweroff"},
		{"dump_to_rootfs without target", "failure_action dump_to_rootfs", 1, "already goes to the root"},
		{"bool", "force_rebuild yes", 1, "want 0 or 1"},
		{"default and failure_action", "failure_action halt\ndefault shell", 2, "given twice (first on line 1)"},
		{"failure_action after default", "default shell\nfailure_action halt", 2, "failure_action given twice (first on line 1)"},
		{"auto_reset_crashkernel", "auto_reset_crashkernel maybe", 1, "want yes or no"},
		{"two targets unsupported", "virtiofs myfs\next4 /dev/vdb", 2, "only one dump target may be given (virtiofs on line 1)"},
		{"ext3 and xfs", "ext3 /dev/vdb\nxfs /dev/vdc", 2, "only one dump target"},
		{"commandline remove with value", "kdump_commandline_remove quiet=1", 1, "parameter names"},
		{"commandline quoted", `kdump_commandline_append foo="a b"`, 1, "quoted"},
		{"commandline init args", "kdump_commandline_append -- single", 1, "arguments to init"},
		{"kernelver path", "kdump_kernelver ../x", 1, "kernel release"},
		{"kernelver twice", "kdump_kernelver 6.1.0-1-amd64\nkdump_kernelver 6.1.0-2-amd64", 2, "given twice"},
		{"commandline twice", "kdump_commandline ro\nkdump_commandline rw", 2, "given twice"},
		{"layout", "dump_layout suse", 1, "want fedora"},
		{"layout debian raw", "raw /dev/vdc\ndump_layout debian", 2, "a raw target's dumps are converted at the next boot in Fedora's layout"},
		{"dump_dmesg", "dump_dmesg no", 1, "want 0 or 1"},
		{"both forces", "force_rebuild 1\nforce_no_rebuild 1", 2, "cannot both be 1"},
		{"keep_dumps negative", "keep_dumps -1", 1, "number of dumps"},
		{"keep_dumps word", "keep_dumps all", 1, "number of dumps"},
		{"control char", "path /a\x01b", 1, "control characters"},
		{"long line", "path /" + strings.Repeat("a", 5000), 1, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in), "/etc/kdump.conf")
			if err == nil {
				t.Fatalf("%q: no error", tt.in)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			if e.File != "/etc/kdump.conf" || e.Line != tt.line {
				t.Errorf("error at %s:%d, want line %d: %v", e.File, e.Line, tt.line, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "/etc/kdump.conf:") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, err := Parse(strings.NewReader("bogus\npath rel\nfinal_action shell\npath /ok\n"), "k")
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("%v: not an ErrorList", err)
	}
	var lines []int
	for _, e := range list {
		lines = append(lines, e.Line)
	}
	if !reflect.DeepEqual(lines, []int{1, 2, 3}) {
		t.Errorf("errors on lines %v, want 1 2 3:\n%v", lines, err)
	}
}

func TestFormatRoundTrip(t *testing.T) {
	in := `path /srv/dumps
core_collector gokdump dump -z -d 17 --message-level 1
ext4 LABEL=crash
kdump_pre /etc/kdump/pre
kdump_post /etc/kdump/post
extra_bins /bin/sh /usr/bin/logger
extra_modules nvme
failure_action shell
final_action poweroff
force_rebuild 1
keep_dumps 5
auto_reset_crashkernel no
kdump_commandline ro root=/dev/vda1
kdump_commandline_remove quiet
kdump_commandline_append console=ttyS0
kdump_kernelver 6.1.0-28-amd64
dump_layout debian
dump_dmesg 0
dracut_args --add-drivers "ext2 ext3"
fence_kdump_nodes node1
`
	c, err := Parse(strings.NewReader(in), "a")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.Format(&buf); err != nil {
		t.Fatal(err)
	}
	c2, err := Parse(&buf, "b")
	if err != nil {
		t.Fatalf("formatted config does not parse: %v\n%s", err, buf.String())
	}
	if !sameConfig(c, c2) {
		t.Errorf("round trip changed the configuration:\n%+v\n%+v", c, c2)
	}
}

// sameConfig compares two configurations, ignoring where things were written.
func sameConfig(a, b *Config) bool {
	x, y := *a, *b
	x.File, y.File, x.Lines, y.Lines = "", "", nil, nil
	x.Warnings, y.Warnings, x.Origin, y.Origin = nil, nil, nil, nil
	x.CmdlineBaseFrom, y.CmdlineBaseFrom, x.CmdlineAppendFrom, y.CmdlineAppendFrom = "", "", nil, nil
	x.Collector.Line, y.Collector.Line, x.Target.Line, y.Target.Line = 0, 0, 0, 0
	if len(x.Collector.Args) == 0 {
		x.Collector.Args = nil
	}
	if len(y.Collector.Args) == 0 {
		y.Collector.Args = nil
	}
	return reflect.DeepEqual(x, y)
}

func TestLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kdump.conf")
	if err := os.WriteFile(p, []byte("path /x\nnonsense\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+":2: ") {
		t.Errorf("Load: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestDirectivesListed(t *testing.T) {
	got := Directives()
	for _, d := range []string{"path", "core_collector", "ext4", "keep_dumps", "force_no_rebuild"} {
		found := false
		for _, g := range got {
			found = found || g == d
		}
		if !found {
			t.Errorf("Directives() lacks %q: %v", d, got)
		}
	}
}

func TestLoadOrDefault(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "kdump.conf")
	c, data, err := LoadOrDefault(missing, false)
	if err != nil || data != nil || c.Path != DefaultDumpPath || c.File != missing+" (missing: defaults)" {
		t.Errorf("missing default file: %+v, %q, %v", c, data, err)
	}
	if _, _, err := LoadOrDefault(missing, true); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing explicit file: %v", err)
	}
	text := "path /x\ncore_collector makedumpfile -c -d 1\n"
	os.WriteFile(missing, []byte(text), 0o600)
	c, data, err = LoadOrDefault(missing, false)
	if err != nil || string(data) != text || c.Path != "/x" || c.File != missing {
		t.Errorf("file: %+v, %q, %v", c, data, err)
	}
	os.WriteFile(missing, []byte("path /y\nbogus\n"), 0o600)
	if _, _, err := LoadOrDefault(missing, true); err == nil || !strings.HasPrefix(err.Error(), missing+":2: ") {
		t.Errorf("bad line: %v", err)
	}
	os.WriteFile(missing, bytes.Repeat([]byte("# comment\n"), maxLines*(maxLineLen+1)/10+1), 0o600)
	if _, _, err := LoadOrDefault(missing, true); err == nil || !strings.Contains(err.Error(), "not a kdump.conf") {
		t.Errorf("huge file: %v", err)
	}
}
