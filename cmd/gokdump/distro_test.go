package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

// debianFile writes Debian's packaged kdump-tools defaults file (read from the
// kdump-tools package, /usr/share/kdump-tools/kdump-tools.conf, which its postinst
// installs as /etc/default/kdump-tools) with the variables of set given those
// values, and returns its path.
func debianFile(t *testing.T, set map[string]string) string {
	t.Helper()
	s := string(testenv.DebianPackageFile(t, "kdump-tools", "/usr/share/kdump-tools/kdump-tools.conf"))
	for name, value := range set {
		re := regexp.MustCompile(`(?m)^#?` + name + `=.*$`)
		if loc := re.FindStringIndex(s); loc != nil {
			s = s[:loc[0]] + name + "=" + value + s[loc[1]:]
		} else {
			s += name + "=" + value + "\n"
		}
	}
	p := filepath.Join(t.TempDir(), "kdump-tools")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func lineIn(t *testing.T, file, prefix string) int {
	t.Helper()
	data, _ := os.ReadFile(file)
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, prefix) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line %s", file, prefix)
	return 0
}

// TestConfigCheckDebian: config check takes Debian's file, recognised by its
// content, prints the effective configuration in kdump.conf syntax and what it
// ignores, and refuses what the capture cannot do on the variable's line.
func TestConfigCheckDebian(t *testing.T) {
	p := debianFile(t, map[string]string{"KDUMP_COREDIR": `"/srv/crash"`, "KDUMP_NUM_DUMPS": "3", "MAKEDUMP_ARGS": `"-l -d 31"`, "KDUMP_DUMP_DMESG": "0"})
	code, out, errs := runCmd(t, "config", "check", "--file-only", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"path /srv/crash\n", "core_collector makedumpfile -l -d 31\n", "keep_dumps 3\n", "dump_layout debian\n", "dump_dmesg 0\n", "failure_action reboot\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("effective configuration lacks %q:\n%s", want, out)
		}
	}
	if want := p + ":" + strconv.Itoa(lineIn(t, p, "KDUMP_KERNEL=")) + ": KDUMP_KERNEL is ignored"; !strings.Contains(errs, "gokdump config: warning: "+want) {
		t.Errorf("stderr %q lacks %q", errs, want)
	}

	p = debianFile(t, map[string]string{"KDUMP_COMPRESSION": "xz"})
	code, _, errs = runCmd(t, "config", "check", "--file-only", p)
	if want := p + ":" + strconv.Itoa(lineIn(t, p, "KDUMP_COMPRESSION=")) + ": KDUMP_COMPRESSION: compressing the whole dump file with xz is not supported"; code != 1 || !strings.Contains(errs, want) {
		t.Errorf("KDUMP_COMPRESSION: exit %d, stderr %q, want %q", code, errs, want)
	}
	p = debianFile(t, map[string]string{"KDUMP_COREDIR": `"$(hostname)"`})
	code, _, errs = runCmd(t, "config", "check", "--file-only", p)
	if want := ":" + strconv.Itoa(lineIn(t, p, "KDUMP_COREDIR=")) + ": KDUMP_COREDIR: $ in a double-quoted value"; code != 1 || !strings.Contains(errs, want) {
		t.Errorf("expansion: exit %d, stderr %q, want %q", code, errs, want)
	}
}

// TestDebianFallback: without /etc/kdump.conf the service commands read
// /etc/default/kdump-tools; USE_KDUMP=0 keeps start from arming.
func TestDebianFallback(t *testing.T) {
	dir := t.TempDir()
	old1, old2 := defaultConfigFile, debianConfigFile
	t.Cleanup(func() { defaultConfigFile, debianConfigFile = old1, old2 })
	defaultConfigFile = filepath.Join(dir, "kdump.conf")
	debianConfigFile = debianFile(t, map[string]string{"KDUMP_NUM_DUMPS": "2"})
	t.Setenv(configEnv, "")
	code, out, errs := runCmd(t, "config", "check", "--file-only")
	if code != 0 || !strings.Contains(out, "# "+debianConfigFile+": OK") || !strings.Contains(out, "dump_layout debian\nkeep_dumps 2\n") && !strings.Contains(out, "keep_dumps 2\n") {
		t.Errorf("fallback: exit %d\n%s%s", code, out, errs)
	}
	// kdump.conf, when there is one, is read instead.
	os.WriteFile(defaultConfigFile, []byte("path /x\n"), 0o600)
	if code, out, _ := runCmd(t, "config", "check", "--file-only"); code != 0 || strings.Contains(out, "dump_layout") || !strings.Contains(out, "path /x\n") {
		t.Errorf("kdump.conf first: exit %d\n%s", code, out)
	}

	root, flags := fakeRoots(t, "")
	off := debianFile(t, map[string]string{"USE_KDUMP": "0"})
	flags[1] = off
	code, _, errs = runCmd(t, append([]string{"start"}, flags...)...)
	if code != 1 || !strings.Contains(errs, "not arming: "+off+":"+strconv.Itoa(lineIn(t, off, "USE_KDUMP="))+": USE_KDUMP is 0, so kdump is disabled") {
		t.Errorf("USE_KDUMP=0: exit %d, stderr %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(root, "state")); err == nil {
		t.Error("start with USE_KDUMP=0 built something")
	}
	code, _, errs = runCmd(t, "config", "check", "--file-only", off)
	if code != 0 || !strings.Contains(errs, "gokdump start will not arm") {
		t.Errorf("config check USE_KDUMP=0: exit %d, stderr %q", code, errs)
	}
}

// TestSysconfigCommand: with a kdump.conf, /etc/sysconfig/kdump ($GOKDUMP_SYSCONFIG)
// is read: its command-line lists show in the effective configuration, what is
// ignored is said, and its KDUMP_KERNELVER names the release to arm unless
// --kernel-version or $KDUMP_KERNELVER does.
func TestSysconfigCommand(t *testing.T) {
	t.Setenv(sysconfigEnv, "../../config/testdata/fedora-sysconfig-kdump")
	code, out, errs := runCmd(t, "config", "check", "--file-only", "../../config/testdata/fedora-kdump.conf")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"auto_reset_crashkernel yes\n", "kdump_commandline_remove hugepages hugepagesz slub_debug quiet", "kdump_commandline_append novmcoredd "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "fedora-sysconfig-kdump:") || !strings.Contains(errs, "VMCORE_CREATION_NOTIFICATION=yes is ignored") {
		t.Errorf("stderr %q", errs)
	}

	root, flags := fakeRoots(t, "ext4 /dev/vdz\n")
	sys := filepath.Join(root, "sysconfig")
	os.WriteFile(sys, []byte("KDUMP_KERNELVER=\"6.9.0-sys\"\n"), 0o600)
	t.Setenv(sysconfigEnv, sys)
	t.Setenv("KDUMP_KERNELVER", "")
	code, _, errs = runCmd(t, append([]string{"config", "check"}, flags...)...)
	if code != 1 || !strings.Contains(errs, "6.9.0-sys") {
		t.Errorf("sysconfig KDUMP_KERNELVER: exit %d, stderr %q", code, errs)
	}
	code, _, errs = runCmd(t, append([]string{"config", "check", "--kernel-version", "6.1.0-t"}, flags...)...)
	if code != 0 {
		t.Errorf("--kernel-version over sysconfig: exit %d, stderr %q", code, errs)
	}
	t.Setenv("KDUMP_KERNELVER", "6.9.0-env")
	code, _, errs = runCmd(t, append([]string{"config", "check"}, flags...)...)
	if code != 1 || !strings.Contains(errs, "6.9.0-env") || strings.Contains(errs, "6.9.0-sys") {
		t.Errorf("$KDUMP_KERNELVER over sysconfig: exit %d, stderr %q", code, errs)
	}
	os.WriteFile(sys, []byte("KDUMP_COMMANDLINE_APPEND=\"`id`\"\n"), 0o600)
	code, _, errs = runCmd(t, append([]string{"config", "check", "--kernel-version", "6.1.0-t"}, flags...)...)
	if code != 1 || !strings.Contains(errs, sys+":1: KDUMP_COMMANDLINE_APPEND: ` in a double-quoted value") {
		t.Errorf("bad sysconfig: exit %d, stderr %q", code, errs)
	}
}

// TestStatusCmdline: status shows the command line this boot's start loaded.
func TestStatusCmdline(t *testing.T) {
	root, flags := fakeRoots(t, "path /var/crash\n")
	os.WriteFile(filepath.Join(root, "sys/kernel/kexec_crash_loaded"), []byte("1\n"), 0o644)
	code, out, _ := runCmd(t, append([]string{"status"}, flags...)...)
	if code != 0 || !strings.Contains(out, "capture command line: unknown (not loaded by gokdump start in this boot)") {
		t.Errorf("no record: exit %d\n%s", code, out)
	}
	os.MkdirAll(filepath.Join(root, "state"), 0o700)
	os.WriteFile(filepath.Join(root, "state/armed.json"), []byte(`{"boot_time":1700000000,"armed_at":1700000100,"release":"6.1.0-t","kernel":"/boot/vmlinuz-6.1.0-t","cmdline":"root=/dev/vda1 irqpoll nr_cpus=1 rdinit=/init","cpus":1,"cpus_why":"auto: reservation 256 MiB"}`), 0o600)
	code, out, _ = runCmd(t, append([]string{"status"}, flags...)...)
	if code != 0 || !strings.Contains(out, "capture command line: root=/dev/vda1 irqpoll nr_cpus=1 rdinit=/init\n") || !strings.Contains(out, "/boot/vmlinuz-6.1.0-t (6.1.0-t)") ||
		!strings.Contains(out, "capture CPUs: 1 (auto: reservation 256 MiB)\n") {
		t.Errorf("recorded: exit %d\n%s", code, out)
	}
}

// TestListBothLayouts: gokdump list shows Fedora's and Debian's dump directories.
func TestListBothLayouts(t *testing.T) {
	dir := t.TempDir()
	for name, file := range map[string]string{"h-2025-01-01-12:00:00": "vmcore", "202501020304": "dump.202501020304"} {
		os.MkdirAll(filepath.Join(dir, name), 0o700)
		os.WriteFile(filepath.Join(dir, name, file), []byte("x"), 0o600)
	}
	code, out, errs := runCmd(t, "list", "--dir", dir)
	if code != 0 || !strings.Contains(out, "2025-01-01 12:00:00  complete") || !strings.Contains(out, filepath.Join(dir, "202501020304", "dump.202501020304")) ||
		!strings.Contains(out, "2025-01-02 03:04:00") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}

// TestConfigCheckFedoraDirectives: kdumpctl's deprecation warning for default, the
// failure action it sets, and the kdump-utils directives gokdump refuses, each on
// its line.
func TestConfigCheckFedoraDirectives(t *testing.T) {
	p := writeConf(t, "auto_reset_crashkernel yes\ndefault halt\n")
	code, out, errs := runCmd(t, "config", "check", "--file-only", p)
	if code != 0 || !strings.Contains(out, "failure_action halt\n") || !strings.Contains(out, "auto_reset_crashkernel yes\n") ||
		!strings.Contains(errs, "gokdump config: warning: "+p+":2: directive default is deprecated") {
		t.Errorf("default: exit %d\n%s%s", code, out, errs)
	}
	p = writeConf(t, "path /var/crash\ndracut_args --omit-drivers x\nfence_kdump_nodes n1\n")
	code, _, errs = runCmd(t, "config", "check", "--file-only", p)
	if code != 1 || !strings.Contains(errs, p+":2: dracut_args: gokdump builds its own capture initramfs without dracut") ||
		!strings.Contains(errs, p+":3: fence_kdump_nodes: fence_kdump") {
		t.Errorf("refused: exit %d, stderr %q", code, errs)
	}
}
