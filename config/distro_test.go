package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

func TestParseShellVars(t *testing.T) {
	good := []struct{ in, name, value string }{
		{`A=1`, "A", "1"},
		{`  A=1   # comment`, "A", "1"},
		{`A=`, "A", ""},
		{`A=""`, "A", ""},
		{`A="-c -d 31"`, "A", "-c -d 31"},
		{`A='it''s'`, "A", "its"},
		{`A='a $b "c"'`, "A", `a $b "c"`},
		{`A="say \"hi\" \\ \$ \` + "`" + `"`, "A", `say "hi" \ $ ` + "`"},
		{`A="a\nb"`, "A", `a\nb`},
		{`A=x"y z"'w'`, "A", "xy zw"},
		{`A=a#b`, "A", "a#b"},
		{`export KDUMP_COREDIR=/var/crash`, "KDUMP_COREDIR", "/var/crash"},
		{`_x9=/a/b*c`, "_x9", "/a/b*c"},
		{`A="echo 'makedumpfile FAILED.'; /bin/bash; reboot -f"`, "A", "echo 'makedumpfile FAILED.'; /bin/bash; reboot -f"},
	}
	for _, g := range good {
		v, err := ParseShellVars(strings.NewReader("# c\n\n"+g.in+"\n"), "f")
		if err != nil {
			t.Errorf("%s: %v", g.in, err)
			continue
		}
		if len(v.Assignments) != 1 || v.Assignments[0] != (Assignment{g.name, g.value, 3}) {
			t.Errorf("%s: %+v", g.in, v.Assignments)
		}
	}
	bad := []struct{ in, want string }{
		{`A=$HOME/crash`, "$: variable expansion"},
		{`A="${X}"`, "$ in a double-quoted value"},
		{`A=$(hostname)`, "$: variable expansion and command substitution"},
		{"A=`hostname`", "command substitution"},
		{"A=\"`hostname`\"", "command substitution"},
		{`A=a b`, "unquoted white space"},
		{`A=1; B=2`, `";": only one plain assignment`},
		{`A=1 && reboot`, "unquoted white space"},
		{`A=x>y`, `">"`},
		{`A="open`, `no closing "`},
		{`A='open`, "no closing '"},
		{`A="a\`, "backslash at the end"},
		{`A=a\ b`, "backslash escapes outside quotes"},
		{`A=~/x`, "leading ~"},
		{`. /etc/other`, "not a NAME=value assignment"},
		{`if true; then`, "not a NAME=value assignment"},
		{`9A=1`, "not a NAME=value assignment"},
		{`A-B=1`, "not a NAME=value assignment"},
		{"A=\x01", "control characters"},
	}
	for _, b := range bad {
		_, err := ParseShellVars(strings.NewReader("A=1\n"+b.in+"\n"), "/etc/default/kdump-tools")
		var e *Error
		if err == nil || !errors.As(err, &e) || e.Line != 2 || !strings.Contains(err.Error(), b.want) ||
			!strings.HasPrefix(err.Error(), "/etc/default/kdump-tools:2: ") {
			t.Errorf("%s: %v, want line 2 and %q", b.in, err, b.want)
		}
	}
	v, err := ParseShellVars(strings.NewReader("A=1\nA=2\n"), "f")
	if val, line, ok := v.Get("A"); err != nil || val != "2" || line != 2 || !ok {
		t.Errorf("Get: %q %d %v %v", val, line, ok, err)
	}
	if _, _, ok := v.Get("B"); ok {
		t.Error("Get of an unset name")
	}
}

func TestIsShellVars(t *testing.T) {
	for in, want := range map[string]bool{
		"# c\nUSE_KDUMP=1\n":      true,
		"export A=1\n":            true,
		"path /var/crash\n":       false,
		"ext4 UUID=1234-5678\n":   false,
		"# only comments\n\n":     false,
		"core_collector x=1\nA=1": false,
	} {
		if got := IsShellVars([]byte(in)); got != want {
			t.Errorf("IsShellVars(%q) = %v", in, got)
		}
	}
}

// TestSysconfig reads /etc/sysconfig/kdump in the form Fedora's kdump-utils
// generates (testdata/fedora-sysconfig-kdump: its variables and values, our own
// comments; no Fedora mirror is reachable from CI).
func TestSysconfig(t *testing.T) {
	c := mustParse(t, "path /var/crash\n")
	if err := c.LoadSysconfig("testdata/fedora-sysconfig-kdump"); err != nil {
		t.Fatal(err)
	}
	if want := strings.Fields("hugepages hugepagesz slub_debug quiet log_buf_len swiotlb hugetlb_cma ignition.firstboot cma"); !reflect.DeepEqual(c.CmdlineRemove, want) {
		t.Errorf("remove %q", c.CmdlineRemove)
	}
	if len(c.CmdlineAppend) != 18 || c.CmdlineAppend[0] != "novmcoredd" || c.CmdlineAppend[17] != "pcie_ports=compat" {
		t.Errorf("append %q", c.CmdlineAppend)
	}
	if c.CmdlineBase != "" || c.KernelVersion != "" {
		t.Errorf("empty variables set something: %+v", c)
	}
	// KEXEC_ARGS="-s" and KDUMP_IMG="vmlinuz" are what gokdump does anyway; the
	// notification is not.
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "fedora-sysconfig-kdump:") ||
		!strings.Contains(c.Warnings[0], "VMCORE_CREATION_NOTIFICATION=yes is ignored: no notification") {
		t.Errorf("warnings %q", c.Warnings)
	}
	if err := c.LoadSysconfig(filepath.Join(t.TempDir(), "missing")); err != nil {
		t.Errorf("missing sysconfig: %v", err)
	}
}

func TestSysconfigVariables(t *testing.T) {
	tests := []struct {
		conf, sys string
		check     func(c *Config) bool
		warn      string
	}{
		{"", `KDUMP_KERNELVER="6.1.0-28-amd64"`, func(c *Config) bool { return c.KernelVersion == "6.1.0-28-amd64" }, ""},
		{"kdump_kernelver 6.1.0-9-amd64\n", `KDUMP_KERNELVER=6.1.0-28-amd64`, func(c *Config) bool { return c.KernelVersion == "6.1.0-9-amd64" }, "KDUMP_KERNELVER=6.1.0-28-amd64 is not used: k.conf's kdump_kernelver 6.1.0-9-amd64 (line 1) is"},
		{"", `KDUMP_COMMANDLINE="ro  root=/dev/vda1"`, func(c *Config) bool { return c.CmdlineBase == "ro root=/dev/vda1" }, ""},
		{"kdump_commandline rw\n", `KDUMP_COMMANDLINE="ro"`, func(c *Config) bool { return c.CmdlineBase == "rw" }, "KDUMP_COMMANDLINE is not used"},
		{"kdump_commandline_remove splash\n", `KDUMP_COMMANDLINE_REMOVE="quiet cma=64M"`, func(c *Config) bool {
			return reflect.DeepEqual(c.CmdlineRemove, []string{"quiet", "cma", "splash"})
		}, ""},
		{"kdump_commandline_append console=ttyS0\n", `KDUMP_COMMANDLINE_APPEND="irqpoll console=ttyS0"`, func(c *Config) bool {
			// Where each word was given: both places for one appended twice.
			irq, _ := c.CmdlineSource("irqpoll")
			con, appended := c.CmdlineSource("console=ttyS0")
			return reflect.DeepEqual(c.CmdlineAppend, []string{"irqpoll", "console=ttyS0"}) &&
				irq == "/etc/sysconfig/kdump:2" && con == "k.conf:1 and /etc/sysconfig/kdump:2" && appended
		}, ""},
		{"", "\nKDUMP_COMMANDLINE=\"ro root=/dev/vda1\"", func(c *Config) bool {
			at, appended := c.CmdlineSource("root=/dev/vda1")
			none, _ := c.CmdlineSource("root=/dev/vda")
			return at == "/etc/sysconfig/kdump:3" && !appended && none == ""
		}, ""},
		// The same word in the base and appended: the appended one is in effect.
		{"kdump_commandline ro quiet\n", "KDUMP_COMMANDLINE_APPEND=quiet", func(c *Config) bool {
			at, appended := c.CmdlineSource("quiet")
			return at == "/etc/sysconfig/kdump:2" && appended
		}, ""},
		{"", "KDUMP_COMMANDLINE_APPEND=a\nKDUMP_COMMANDLINE_APPEND=b", func(c *Config) bool { return reflect.DeepEqual(c.CmdlineAppend, []string{"b"}) }, ""},
		// The variable's parameters first; one kdump.conf also gives counts there.
		// Each is said to come from where it was given, and only from there.
		{"kdump_commandline_append nr_cpus=2 quiet\n", `KDUMP_COMMANDLINE_APPEND="quiet nr_cpus=1 irqpoll"`, func(c *Config) bool {
			conf, _ := c.CmdlineSource("nr_cpus=2")
			sys, _ := c.CmdlineSource("nr_cpus=1")
			both, _ := c.CmdlineSource("quiet")
			return reflect.DeepEqual(c.CmdlineAppend, []string{"nr_cpus=1", "irqpoll", "nr_cpus=2", "quiet"}) &&
				conf == "k.conf:1" && sys == "/etc/sysconfig/kdump:2" && both == "k.conf:1 and /etc/sysconfig/kdump:2"
		}, ""},
		{"", `KEXEC_ARGS="--elf32-core-headers"`, nil, "KEXEC_ARGS=--elf32-core-headers is ignored: gokdump always loads with kexec_file_load"},
		{"", `KDUMP_BOOTDIR=/boot/efi`, nil, "KDUMP_BOOTDIR=/boot/efi is ignored"},
		{"", `KDUMP_IMG=zImage`, nil, "KDUMP_IMG=zImage is ignored"},
		{"", `KDUMP_IMG_EXT=.gz`, nil, "KDUMP_IMG_EXT=.gz is ignored"},
		{"", `FADUMP_COMMANDLINE_APPEND="nr_cpus=16"`, nil, "fadump"},
		{"", `KDUMP_STDLOGLVL=4`, nil, "KDUMP_STDLOGLVL=4 is ignored"},
		{"", `KDUMP_SYSLOGLVL=4`, nil, "KDUMP_SYSLOGLVL=4 is ignored"},
		{"", `KDUMP_KMSGLOGLVL=4`, nil, "KDUMP_KMSGLOGLVL=4 is ignored"},
		{"", `MKDUMPRD_ARGS=--debug`, nil, "without mkdumprd"},
		{"", `SOMETHING=1`, nil, "SOMETHING is not a kdumpctl setting: ignored"},
	}
	for _, tt := range tests {
		c := mustParse(t, tt.conf)
		v, err := ParseShellVars(strings.NewReader("# x\n"+tt.sys+"\n"), "/etc/sysconfig/kdump")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ApplySysconfig(v); err != nil {
			t.Errorf("%s: %v", tt.sys, err)
			continue
		}
		if tt.check != nil && !tt.check(c) {
			t.Errorf("%s: %+v", tt.sys, c)
		}
		if tt.warn == "" && len(c.Warnings) != 0 || tt.warn != "" && (len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], tt.warn) || !strings.HasPrefix(c.Warnings[0], "/etc/sysconfig/kdump:2: ")) {
			t.Errorf("%s: warnings %q, want %q", tt.sys, c.Warnings, tt.warn)
		}
	}
	for sys, want := range map[string]string{
		"KDUMP_KERNELVER=../../etc":          "KDUMP_KERNELVER: want a kernel release",
		`KDUMP_COMMANDLINE_APPEND="a -- b"`:  "arguments to init",
		`KDUMP_COMMANDLINE='root="a b"'`:     "quoted kernel parameters",
		`KDUMP_COMMANDLINE_REMOVE='a="b"'`:   "quoted kernel parameters",
		`KDUMP_COMMANDLINE_APPEND="$(date)"`: "not done",
	} {
		c := mustParse(t, "")
		err := c.LoadSysconfigData([]byte("\n"+sys+"\n"), "/etc/sysconfig/kdump")
		if err == nil || !strings.Contains(err.Error(), "/etc/sysconfig/kdump:2: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", sys, err, want)
		}
	}
}

func mustParse(t *testing.T, conf string) *Config {
	t.Helper()
	c, err := Parse(strings.NewReader(conf), "k.conf")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// debianDefaults returns Debian's packaged /etc/default/kdump-tools: kdump-tools
// ships it as /usr/share/kdump-tools/kdump-tools.conf and its postinst installs it
// as /etc/default/kdump-tools. The package is read, not installed (its maintainer
// scripts would edit the boot loader's configuration).
func debianDefaults(t *testing.T) []byte {
	t.Helper()
	return testenv.DebianPackageFile(t, "kdump-tools", "/usr/share/kdump-tools/kdump-tools.conf")
}

// withVars returns Debian's file with each variable of set given that value: the
// line assigning it (active or commented out) replaced, or one appended.
func withVars(file []byte, set map[string]string) []byte {
	s := string(file)
	for name, value := range set {
		re := regexp.MustCompile(`(?m)^#?` + name + `=.*$`)
		line := name + "=" + value
		if loc := re.FindStringIndex(s); loc != nil {
			s = s[:loc[0]] + line + s[loc[1]:]
		} else {
			s += line + "\n"
		}
	}
	return []byte(s)
}

func parseDebian(t *testing.T, data []byte) (*Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kdump-tools")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

// lineOf returns the line of file that assigns name.
func lineOf(file []byte, name string) int {
	for i, l := range strings.Split(string(file), "\n") {
		if strings.HasPrefix(l, name+"=") {
			return i + 1
		}
	}
	return 0
}

// TestDebianPackaged reads Debian's kdump-tools defaults file as the package ships
// it: it is recognised by its content and turned into Debian's layout with
// kdump-tools' defaults.
func TestDebianPackaged(t *testing.T) {
	data := debianDefaults(t)
	if !IsShellVars(data) {
		t.Fatal("Debian's file is not recognised as a shell-variable file")
	}
	c, err := parseDebian(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if c.Layout != LayoutDebian || c.Path != "/var/crash" || c.Collector.String() != "makedumpfile -c -d 31" ||
		c.Target.Kind != TargetRootfs || c.KeepDumps != 0 || c.NoDmesg || c.Disabled != "" || c.FailureAction != ActionReboot {
		t.Errorf("Debian's defaults: %+v", c)
	}
	if c.Lines["path"] != lineOf(data, "KDUMP_COREDIR") || c.Origin["path"] != "KDUMP_COREDIR" {
		t.Errorf("path from line %d (%s), want KDUMP_COREDIR's %d", c.Lines["path"], c.Origin["path"], lineOf(data, "KDUMP_COREDIR"))
	}
	// KDUMP_KERNEL and KDUMP_INITRD are set in the packaged file, and reported.
	want := []string{"KDUMP_KERNEL is ignored", "KDUMP_INITRD is ignored: gokdump builds its own"}
	if len(c.Warnings) != len(want) {
		t.Fatalf("warnings %q", c.Warnings)
	}
	for i, w := range want {
		if !strings.Contains(c.Warnings[i], w) {
			t.Errorf("warning %q, want %q", c.Warnings[i], w)
		}
	}
	var buf bytes.Buffer
	c.Format(&buf)
	for _, l := range []string{"path /var/crash\n", "core_collector makedumpfile -c -d 31\n", "dump_layout debian\n", "keep_dumps 0\n"} {
		if !strings.Contains(buf.String(), l) {
			t.Errorf("effective configuration lacks %q:\n%s", l, buf.String())
		}
	}
}

// TestDebianVariables sets each variable of Debian's file and checks what it maps to.
func TestDebianVariables(t *testing.T) {
	orig := debianDefaults(t)
	tests := []struct {
		name  string
		set   map[string]string
		check func(c *Config) bool
		warn  string // a warning on the variable's line
	}{
		{"coredir", map[string]string{"KDUMP_COREDIR": `"/srv/crash/"`}, func(c *Config) bool { return c.Path == "/srv/crash" && c.Origin["path"] == "KDUMP_COREDIR" }, ""},
		{"num dumps", map[string]string{"KDUMP_NUM_DUMPS": "3"}, func(c *Config) bool { return c.KeepDumps == 3 && c.Origin["keep_dumps"] == "KDUMP_NUM_DUMPS" }, ""},
		{"num dumps 0", map[string]string{"KDUMP_NUM_DUMPS": "0"}, func(c *Config) bool { return c.KeepDumps == 0 }, ""},
		{"makedump args", map[string]string{"MAKEDUMP_ARGS": `"-l -d 17 --message-level 7"`}, func(c *Config) bool {
			return c.Collector.String() == "makedumpfile -l -d 17 --message-level 7" && c.Origin["core_collector"] == "MAKEDUMP_ARGS"
		}, ""},
		{"makedump args -F", map[string]string{"MAKEDUMP_ARGS": `"-F -c -d 31"`}, func(c *Config) bool { return c.Collector.String() == "makedumpfile -c -d 31" }, "-F is left out"},
		{"fail reboot", map[string]string{"KDUMP_FAIL_CMD": `"reboot -f"`}, func(c *Config) bool { return c.FailureAction == ActionReboot && c.Lines["failure_action"] != 0 }, ""},
		{"fail halt", map[string]string{"KDUMP_FAIL_CMD": "halt"}, func(c *Config) bool { return c.FailureAction == ActionHalt }, ""},
		{"fail poweroff", map[string]string{"KDUMP_FAIL_CMD": `'poweroff  -f'`}, func(c *Config) bool { return c.FailureAction == ActionPoweroff }, ""},
		{"dmesg 0", map[string]string{"KDUMP_DUMP_DMESG": "0"}, func(c *Config) bool { return c.NoDmesg && c.Origin["dump_dmesg"] == "KDUMP_DUMP_DMESG" }, ""},
		{"dmesg 1", map[string]string{"KDUMP_DUMP_DMESG": "1"}, func(c *Config) bool { return !c.NoDmesg }, ""},
		{"compression empty", map[string]string{"KDUMP_COMPRESSION": ""}, func(c *Config) bool { return true }, ""},
		{"cmdline", map[string]string{"KDUMP_CMDLINE": `"ro root=/dev/vda1 console=ttyS0"`}, func(c *Config) bool { return c.CmdlineBase == "ro root=/dev/vda1 console=ttyS0" }, ""},
		// The value the file documents as kdump-tools' default.
		{"cmdline append", map[string]string{"KDUMP_CMDLINE_APPEND": `"reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb"`}, func(c *Config) bool {
			return reflect.DeepEqual(c.CmdlineAppend, strings.Fields("reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb")) &&
				strings.HasSuffix(c.CmdlineAppendFrom["usbcore.nousb"][0], "kdump-tools:"+strconv.Itoa(c.Lines["kdump_commandline_append"])) && c.Lines["kdump_commandline_append"] > 0
		}, ""},
		{"ssh", map[string]string{"SSH": `"kdump@10.0.0.2"`, "SSH_KEY": `"/root/.ssh/kdump_id_rsa"`}, func(c *Config) bool {
			return c.Target.Kind == TargetSSH && c.Target.User == "kdump" && c.Target.Host == "10.0.0.2" && c.SSHKey == "/root/.ssh/kdump_id_rsa" &&
				c.Collector.String() == "makedumpfile -c -d 31 -F" &&
				c.Path == "/var/crash" && c.Origin["ssh"] == "SSH" && c.Origin["sshkey"] == "SSH_KEY"
		}, ""},
		{"ssh key alone", map[string]string{"SSH_KEY": `"/root/.ssh/kdump_id_rsa"`}, func(c *Config) bool { return c.SSHKey == "" }, "SSH_KEY is not used without SSH"},
		{"nfs", map[string]string{"NFS": `"nfs1:/var/crash"`, "HOSTTAG": "hostname"}, func(c *Config) bool {
			return c.Target.Kind == TargetNFS && c.Target.Host == "nfs1" && c.Target.Export == "/var/crash" && c.Path == "/" && c.Origin["nfs"] == "NFS"
		}, ""},
		{"nfs coredir", map[string]string{"NFS": `"nfs1:/var/crash"`, "KDUMP_COREDIR": `"/mnt/crash"`}, func(c *Config) bool { return c.Path == "/" && c.Lines["path"] == 0 }, "KDUMP_COREDIR is where kdump-tools mounts the NFS export"},
		{"nfs mount retry", map[string]string{"NFS_MOUNT_RETRY": "4"}, nil, "NFS_MOUNT_RETRY is ignored"},
		{"ssh retry", map[string]string{"SSH_KDUMP_RETRY": "16"}, nil, "SSH_KDUMP_RETRY is ignored"},
		{"nfs keeps all", map[string]string{"NFS": `"nfs1:/var/crash"`, "KDUMP_NUM_DUMPS": "2"}, func(c *Config) bool { return c.KeepDumps == 0 }, "KDUMP_NUM_DUMPS is not used with a remote target"},
		{"hosttag local", map[string]string{"HOSTTAG": "ip"}, nil, "HOSTTAG is only used for SSH and NFS"},
		{"use_kdump 0", map[string]string{"USE_KDUMP": "0"}, func(c *Config) bool { return strings.Contains(c.Disabled, "USE_KDUMP is 0, so kdump is disabled") }, ""},
		{"use_kdump unset", map[string]string{"USE_KDUMP": ""}, func(c *Config) bool { return c.Disabled != "" }, ""},
		{"kexec args", map[string]string{"KDUMP_KEXEC_ARGS": `"--elf64-core-headers"`}, nil, "KDUMP_KEXEC_ARGS is ignored"},
		{"nfs timeo", map[string]string{"NFS_TIMEO": `"600"`}, nil, "NFS_TIMEO is ignored"},
		{"nfs retrans", map[string]string{"NFS_RETRANS": `"3"`}, nil, "NFS_RETRANS is ignored"},
		{"ftp user", map[string]string{"FTP_USER": `"u"`}, nil, "FTP_USER is ignored"},
		{"ftp password", map[string]string{"FTP_PASSWORD": `"p"`}, nil, "FTP_PASSWORD is ignored"},
		{"ftp port", map[string]string{"FTP_PORT": "21"}, nil, "FTP_PORT is ignored"},
		{"sysctl", map[string]string{"KDUMP_SYSCTL": `"kernel.panic_on_oops=1"`}, nil, "KDUMP_SYSCTL is ignored"},
		{"unknown", map[string]string{"MY_SETTING": "1"}, nil, "MY_SETTING is not a kdump-tools setting: ignored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := withVars(orig, tt.set)
			c, err := parseDebian(t, data)
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil && !tt.check(c) {
				t.Errorf("%v: %+v", tt.set, c)
			}
			found := tt.warn == ""
			for _, w := range c.Warnings {
				for name := range tt.set {
					if strings.Contains(w, tt.warn) && strings.Contains(w, ":"+strconv.Itoa(lineOf(data, name))+": ") {
						found = true
					}
				}
			}
			if !found {
				t.Errorf("%v: warnings %q lack %q on the variable's line", tt.set, c.Warnings, tt.warn)
			}
			// What is accepted prints as a kdump.conf that reads back the same.
			var buf bytes.Buffer
			c.Format(&buf)
			c2, err := Parse(&buf, "effective")
			if err != nil {
				t.Fatalf("effective configuration does not parse: %v\n%s", err, buf.String())
			}
			c.Disabled = ""
			if !sameConfig(c, c2) {
				t.Errorf("effective configuration reads back differently:\n%+v\n%+v", c, c2)
			}
		})
	}
}

// TestDebianRefused: what gokdump cannot do is refused on the variable's line.
func TestDebianRefused(t *testing.T) {
	orig := debianDefaults(t)
	tests := []struct {
		name string
		set  map[string]string
		bad  string // the variable whose line is named
		want string
	}{
		{"fail shell", map[string]string{"KDUMP_FAIL_CMD": `"echo 'makedumpfile FAILED.'; /bin/bash; reboot -f"`}, "KDUMP_FAIL_CMD", "is a shell command, and gokdump runs none"},
		{"compression xz", map[string]string{"KDUMP_COMPRESSION": "xz"}, "KDUMP_COMPRESSION", "compressing the whole dump file with xz is not supported"},
		{"compression bzip2", map[string]string{"KDUMP_COMPRESSION": "bzip2"}, "KDUMP_COMPRESSION", "with bzip2"},
		{"compression gzip", map[string]string{"KDUMP_COMPRESSION": "gzip"}, "KDUMP_COMPRESSION", "with gzip"},
		{"compression lz4", map[string]string{"KDUMP_COMPRESSION": "lz4"}, "KDUMP_COMPRESSION", "with lz4"},
		{"compression other", map[string]string{"KDUMP_COMPRESSION": "zip"}, "KDUMP_COMPRESSION", "not a compression kdump-tools knows"},
		{"ftp", map[string]string{"FTP": `"srv:/dumps"`}, "FTP", "FTP upload is not supported"},
		{"coredir expansion", map[string]string{"KDUMP_COREDIR": `"$HOME/crash"`}, "KDUMP_COREDIR", "variable expansion and command substitution are not done"},
		{"coredir substitution", map[string]string{"KDUMP_COREDIR": `$(mktemp -d)`}, "KDUMP_COREDIR", "command substitution are not done"},
		{"coredir backquote", map[string]string{"KDUMP_COREDIR": "`pwd`"}, "KDUMP_COREDIR", "command substitution is not done"},
		{"coredir relative", map[string]string{"KDUMP_COREDIR": "crash"}, "KDUMP_COREDIR", "absolute path"},
		{"num dumps word", map[string]string{"KDUMP_NUM_DUMPS": "all"}, "KDUMP_NUM_DUMPS", "number of dumps"},
		{"dmesg 2", map[string]string{"KDUMP_DUMP_DMESG": "2"}, "KDUMP_DUMP_DMESG", "want 1"},
		{"use_kdump yes", map[string]string{"USE_KDUMP": "yes"}, "USE_KDUMP", "want 1 (kdump on) or 0"},
		{"makedump cp", map[string]string{"MAKEDUMP_ARGS": `"-d '31'"`}, "MAKEDUMP_ARGS", "quoting"},
		{"ssh bad", map[string]string{"SSH": "server"}, "SSH", "want user@host"},
		{"nfs bad", map[string]string{"NFS": "server"}, "NFS", "want host:/export"},
		{"ssh and nfs", map[string]string{"SSH": "a@b", "NFS": "h:/e"}, "NFS", "NFS and SSH"},
		{"hosttag", map[string]string{"HOSTTAG": "mac"}, "HOSTTAG", "want ip or hostname"},
		{"cmdline quoted", map[string]string{"KDUMP_CMDLINE": `'root="a b"'`}, "KDUMP_CMDLINE", "quoted kernel parameters"},
		{"fedora variable", map[string]string{"KDUMP_COMMANDLINE_APPEND": "x"}, "KDUMP_COMMANDLINE_APPEND", "Fedora's /etc/sysconfig/kdump"},
		{"two commands", map[string]string{"KDUMP_COREDIR": `/var/crash; rm -rf /`}, "KDUMP_COREDIR", "only one plain assignment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := withVars(orig, tt.set)
			_, err := parseDebian(t, data)
			line := lineOf(data, tt.bad)
			if err == nil || !strings.Contains(err.Error(), "kdump-tools:"+strconv.Itoa(line)+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v: %v, want line %d and %q", tt.set, err, line, tt.want)
			}
		})
	}
}

// TestDebianInImage: the capture initramfs carries the configuration file's bytes
// as /etc/kdump.conf; Debian's settings there are still recognised by content.
func TestDebianInImage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kdump.conf")
	os.WriteFile(p, withVars(debianDefaults(t), map[string]string{"KDUMP_NUM_DUMPS": "4"}), 0o600)
	c, err := Load(p)
	if err != nil || !c.IsDebian() || c.Layout != LayoutDebian || c.KeepDumps != 4 {
		t.Errorf("Debian's settings named kdump.conf: %+v %v", c, err)
	}
	c, _, err = LoadOrDefault(p, false)
	if err != nil || c.Layout != LayoutDebian {
		t.Errorf("LoadOrDefault: %+v %v", c, err)
	}
}
