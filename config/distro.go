package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The other configuration files of the kdump services gokdump replaces, read as
// data (ParseShellVars), never by a shell:
//
//   - Fedora/RHEL's /etc/sysconfig/kdump goes with kdump.conf and says how kdumpctl
//     loads the capture kernel: ApplySysconfig takes its command-line and release
//     variables into a Config and reports the others as ignored, with why.
//   - Debian/Ubuntu's /etc/default/kdump-tools is the whole configuration of
//     kdump-tools: FromDebian turns it into a Config (Debian's directory layout,
//     KDUMP_NUM_DUMPS as keep_dumps, MAKEDUMP_ARGS as core_collector, ...), refusing
//     what gokdump cannot do with the line and the reason. Load and LoadOrDefault
//     recognise it by its content (NAME=value lines), whatever its name.

// IsDebian reports whether c was read from Debian's kdump-tools settings
// (FromDebian).
func (c *Config) IsDebian() bool { return c.Origin != nil }

// SysconfigFile is Fedora's kdumpctl settings file.
const SysconfigFile = "/etc/sysconfig/kdump"

// DebianFile is Debian's kdump-tools configuration; the service reads it when there
// is no /etc/kdump.conf.
const DebianFile = "/etc/default/kdump-tools"

// maxShellFile bounds the shell-variable files read whole.
const maxShellFile = maxLines * (maxLineLen + 1)

// IsShellVars reports whether data is a shell-variable file (its first line that
// is not blank or a comment is NAME=value) rather than a kdump.conf, whose
// directives never hold '=' in their first word.
func IsShellVars(data []byte) bool {
	for _, l := range bytes.Split(data, []byte("\n")) {
		s := strings.TrimSpace(string(l))
		if s == "" || s[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(s, "export "); ok {
			s = strings.TrimSpace(rest)
		}
		word, _, _ := strings.Cut(s, " ")
		name, _, ok := strings.Cut(word, "=")
		return ok && isShellName(name)
	}
	return false
}

// parseData parses a configuration file's bytes as kdump.conf, or as Debian's
// defaults file when it is a shell-variable file.
func parseData(data []byte, name string) (*Config, error) {
	if !IsShellVars(data) {
		return Parse(bytes.NewReader(data), name)
	}
	v, err := ParseShellVars(bytes.NewReader(data), name)
	if err != nil {
		return nil, err
	}
	return FromDebian(v)
}

// LoadSysconfig reads Fedora's /etc/sysconfig/kdump (file) into c
// (ApplySysconfig). A missing file is not an error: Debian has none.
func (c *Config) LoadSysconfig(file string) error {
	data, err := readSmall(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return c.LoadSysconfigData(data, file)
}

// LoadSysconfigData is LoadSysconfig of the file's bytes (name for messages).
func (c *Config) LoadSysconfigData(data []byte, name string) error {
	v, err := ParseShellVars(bytes.NewReader(data), name)
	if err != nil {
		return err
	}
	return c.ApplySysconfig(v)
}

func readSmall(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxShellFile+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > maxShellFile {
		return nil, &Error{File: file, Msg: fmt.Sprintf("larger than %d bytes: not a configuration file", maxShellFile)}
	}
	return data, nil
}

// sysconfigIgnored are the variables of /etc/sysconfig/kdump that gokdump does not
// use, with why, and the value that needs no report (kdumpctl's default, which is
// what gokdump does anyway).
var sysconfigIgnored = map[string]struct{ same, why string }{
	"KEXEC_ARGS":                   {"-s", "gokdump always loads with kexec_file_load (kexec -s); other kexec options do not apply"},
	"KDUMP_BOOTDIR":                {"/boot", "gokdump takes the kernel from /boot/vmlinuz-RELEASE (or /lib/modules/RELEASE/vmlinuz); name another with gokdump start --kernel or --boot-dir"},
	"KDUMP_IMG":                    {"vmlinuz", "gokdump takes the kernel from /boot/vmlinuz-RELEASE; name another with gokdump start --kernel"},
	"KDUMP_IMG_EXT":                {"", "gokdump takes the kernel from /boot/vmlinuz-RELEASE; name another with gokdump start --kernel"},
	"FADUMP_COMMANDLINE_APPEND":    {"", "firmware-assisted dump (fadump, POWER) is not supported"},
	"VMCORE_CREATION_NOTIFICATION": {"", "no notification is sent when a dump is saved; gokdump status and gokdump list show new dumps"},
	"KDUMP_STDLOGLVL":              {"", "gokdump's messages go to standard error and the journal without levels to set"},
	"KDUMP_SYSLOGLVL":              {"", "gokdump's messages go to standard error and the journal without levels to set"},
	"KDUMP_KMSGLOGLVL":             {"", "gokdump's messages go to standard error and the journal without levels to set"},
	"MKDUMPRD_ARGS":                {"", "gokdump builds its own capture initramfs without mkdumprd or dracut"},
}

// ApplySysconfig takes Fedora's /etc/sysconfig/kdump variables into c:
// KDUMP_COMMANDLINE (the command line used instead of the running kernel's),
// KDUMP_COMMANDLINE_REMOVE (parameters taken out of it, by name),
// KDUMP_COMMANDLINE_APPEND (added at the end) and KDUMP_KERNELVER (the release to
// arm). kdump.conf's own kdump_commandline and kdump_kernelver win over the
// variables (with a warning); the remove and append lists are joined, the
// variables' first. Every other variable set is reported as ignored, with why.
func (c *Config) ApplySysconfig(v *ShellVars) error {
	p := &parser{name: v.File}
	warn := func(line int, format string, args ...any) {
		e := &Error{File: v.File, Line: line, Msg: fmt.Sprintf(format, args...)}
		c.Warnings = append(c.Warnings, e.Error())
	}
	seen := map[string]bool{}
	for i := len(v.Assignments) - 1; i >= 0; i-- {
		a := v.Assignments[i]
		if seen[a.Name] {
			continue // the shell keeps the last value
		}
		seen[a.Name] = true
		switch a.Name {
		case "KDUMP_KERNELVER":
			if a.Value == "" {
				break
			}
			if err := checkRelease(a.Value); err != nil {
				p.errorf(a.Line, "%s: %v", a.Name, err)
			} else if c.KernelVersion != "" && c.KernelVersion != a.Value {
				warn(a.Line, "KDUMP_KERNELVER=%s is not used: %s's kdump_kernelver %s (line %d) is", a.Value, c.File, c.KernelVersion, c.Lines["kdump_kernelver"])
			} else {
				c.KernelVersion = a.Value
			}
		case "KDUMP_COMMANDLINE":
			words, err := cmdlineWords(a.Value)
			switch {
			case err != nil:
				p.errorf(a.Line, "%s: %v", a.Name, err)
			case len(words) == 0:
			case c.CmdlineBase != "":
				warn(a.Line, "KDUMP_COMMANDLINE is not used: %s's kdump_commandline (line %d) is", c.File, c.Lines["kdump_commandline"])
			default:
				c.CmdlineBase = strings.Join(words, " ")
				c.CmdlineBaseFrom = place(v.File, a.Line)
			}
		case "KDUMP_COMMANDLINE_REMOVE":
			// kdumpctl removes by name: "cma=0" removes every cma=.
			words, err := cmdlineWords(a.Value)
			if err != nil {
				p.errorf(a.Line, "%s: %v", a.Name, err)
				break
			}
			var names []string
			for _, w := range words {
				n, _, _ := strings.Cut(w, "=")
				names = appendUnique(names, n)
			}
			c.CmdlineRemove = joinUnique(names, c.CmdlineRemove)
		case "KDUMP_COMMANDLINE_APPEND":
			// The variable's first, as kdumpctl adds them; a parameter in both
			// counts where kdump.conf gives it.
			conf := c.CmdlineAppend
			c.CmdlineAppend = nil
			words, err := c.appendCmdline(a.Value, v.File, a.Line)
			if err != nil {
				c.CmdlineAppend = conf
				p.errorf(a.Line, "%s: %v", a.Name, err)
				break
			}
			for _, w := range conf {
				c.CmdlineAppend = appendLast(c.CmdlineAppend, w)
			}
			// Fedora's own file appends nr_cpus=1: an explicit capture_cpus N beside it
			// is refused (one of them would be ignored), capture_cpus auto is said to
			// give way to it.
			if c.Lines["capture_cpus"] != 0 && slices.ContainsFunc(words, isNrCPUs) {
				if c.CaptureCPUs > 0 {
					p.errorf(a.Line, "%s: nr_cpus= and %s's capture_cpus %d (line %d) both set the capture kernel's CPUs; keep one", a.Name, c.File, c.CaptureCPUs, c.Lines["capture_cpus"])
				} else {
					warn(a.Line, "%s's capture_cpus auto (line %d) is not used: nr_cpus= in %s sets the capture kernel's CPUs", c.File, c.Lines["capture_cpus"], a.Name)
				}
			}
		default:
			ig, known := sysconfigIgnored[a.Name]
			switch {
			case !known:
				warn(a.Line, "%s is not a kdumpctl setting: ignored", a.Name)
			case a.Value != "" && a.Value != ig.same:
				warn(a.Line, "%s=%s is ignored: %s", a.Name, a.Value, ig.why)
			}
		}
	}
	if len(p.errs) > 0 {
		return sortErrors(p.errs)
	}
	return nil
}

func joinUnique(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, s := range b {
		out = appendUnique(out, s)
	}
	return out
}

// sortErrors puts errors in line order.
func sortErrors(l ErrorList) ErrorList {
	sort.SliceStable(l, func(i, j int) bool { return l[i].Line < l[j].Line })
	return l
}

// debianDefaultArgs is MAKEDUMP_ARGS when unset (kdump-config: compressed with
// zlib, only the kernel's own pages). kdump-config adds -F, a flattened stream,
// because it pipes the dump into a compressor; gokdump writes the file itself, and
// adds -F only for an SSH target, where the dump is a stream.
var debianDefaultArgs = []string{"-c", "-d", "31"}

// debianIgnored are kdump-tools variables gokdump reads but does not use, with why.
var debianIgnored = map[string]string{
	"KDUMP_KERNEL":     "gokdump loads the kernel of the release it arms (/boot/vmlinuz-RELEASE; another with gokdump start --kernel), not kdump-tools' /var/lib/kdump link",
	"KDUMP_INITRD":     "gokdump builds its own capture initramfs",
	"KDUMP_KEXEC_ARGS": "gokdump loads with kexec_file_load itself; kexec options do not apply",
	"KDUMP_SYSCTL":     "gokdump start sets kernel.panic_on_oops=1 itself",
	"NFS_TIMEO":        "NFS options are not used: the capture does not save to NFS yet",
	"NFS_RETRANS":      "NFS options are not used: the capture does not save to NFS yet",
	"NFS_MOUNT_RETRY":  "the capture waits a bounded time for its target by itself",
	"SSH_KDUMP_RETRY":  "the capture waits a bounded time for its target by itself",
	"FTP_USER":         "FTP upload is not supported",
	"FTP_PASSWORD":     "FTP upload is not supported",
	"FTP_PORT":         "FTP upload is not supported",
}

// debianMapped are the kdump-tools variables that become kdump.conf directives.
var debianMapped = map[string]bool{
	"KDUMP_COREDIR": true, "MAKEDUMP_ARGS": true, "KDUMP_CMDLINE": true, "KDUMP_CMDLINE_APPEND": true,
	"SSH": true, "SSH_KEY": true, "NFS": true,
}

// debianFailCmd maps the KDUMP_FAIL_CMD values that are one of the actions
// failure_action has.
var debianFailCmd = map[string]Action{
	"reboot": ActionReboot, "reboot -f": ActionReboot, "/sbin/reboot -f": ActionReboot, "systemctl reboot": ActionReboot,
	"halt": ActionHalt, "halt -f": ActionHalt, "/sbin/halt -f": ActionHalt, "systemctl halt": ActionHalt,
	"poweroff": ActionPoweroff, "poweroff -f": ActionPoweroff, "/sbin/poweroff -f": ActionPoweroff, "systemctl poweroff": ActionPoweroff,
}

// FromDebian turns Debian's /etc/default/kdump-tools into a configuration. Dumps
// are saved in Debian's layout: KDUMP_COREDIR/YYYYMMDDHHMM/dump.YYYYMMDDHHMM and
// dmesg.YYYYMMDDHHMM. Each variable is mapped to the kdump.conf directive that does
// the same (Lines and Origin record the variable's line and name), reported as
// ignored with why (Warnings), or refused with the line and the reason.
//
// KDUMP_NUM_DUMPS becomes keep_dumps: the same number of dumps is kept, but the old
// ones go before the new dump is written (their room may be what it needs), where
// kdump-config removes them after a successful one.
func FromDebian(v *ShellVars) (*Config, error) {
	c := Default()
	c.File = v.File
	c.Layout = LayoutDebian
	c.Collector.Args = append([]string(nil), debianDefaultArgs...)
	c.Origin = map[string]string{}
	p := &parser{name: v.File}
	set := func(directive string, a Assignment) {
		c.Lines[directive], c.Origin[directive] = a.Line, a.Name
	}
	vals := map[string]Assignment{}
	var order []string
	for _, a := range v.Assignments {
		if _, dup := vals[a.Name]; !dup {
			order = append(order, a.Name)
		}
		vals[a.Name] = a // the shell keeps the last value
	}
	if a, ok := vals["USE_KDUMP"]; !ok || a.Value == "" || a.Value == "0" {
		c.Disabled = fmt.Sprintf("%s: USE_KDUMP is not set or 0, so kdump is disabled: set USE_KDUMP=1", v.File)
		if ok {
			c.Disabled = (&Error{File: v.File, Line: a.Line, Msg: "USE_KDUMP is 0, so kdump is disabled: set USE_KDUMP=1"}).Error()
		}
	} else if a.Value != "1" {
		p.errorf(a.Line, "USE_KDUMP: want 1 (kdump on) or 0 (off), not %q", a.Value)
	}
	ssh, nfs := vals["SSH"], vals["NFS"]
	if ssh.Value != "" && nfs.Value != "" {
		p.errorf(nfs.Line, "NFS and SSH (line %d) are both set: only one dump target may be given", ssh.Line)
	}
	for _, name := range order {
		a := vals[name]
		val := a.Value
		fail := func(format string, args ...any) {
			p.errorf(a.Line, "%s: %s", name, fmt.Sprintf(format, args...))
		}
		if strings.Contains(val, "#") && debianMapped[name] {
			fail("'#' cannot be written in kdump.conf syntax (it starts a comment there)")
			continue
		}
		switch name {
		case "USE_KDUMP":
		case "KDUMP_COREDIR":
			if val == "" {
				break
			}
			if nfs.Value != "" {
				c.Warnf(a.Line, "KDUMP_COREDIR is where kdump-tools mounts the NFS export; dumps go to the export's top directory as with kdump-tools (path /)")
				break
			}
			if err := setPath(c, p, val, a.Line); err != nil {
				fail("%v", err)
				break
			}
			set("path", a)
		case "MAKEDUMP_ARGS":
			words := strings.Fields(val)
			var args []string
			for _, w := range words {
				if w == "-F" && ssh.Value == "" {
					c.Warnf(a.Line, "MAKEDUMP_ARGS: -F is left out: kdump-tools needs the flattened format to pipe the dump into a compressor, gokdump writes the dump file itself (readable by crash as it is)")
					continue
				}
				args = append(args, w)
			}
			if err := setCollector(c, p, strings.Join(append([]string{"makedumpfile"}, args...), " "), a.Line); err != nil {
				fail("%v", err)
				break
			}
			set("core_collector", a)
		case "KDUMP_NUM_DUMPS":
			if val == "" {
				break
			}
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > 100000 {
				fail("want a number of dumps to keep (0 keeps all), not %q", val)
				break
			}
			if ssh.Value != "" || nfs.Value != "" {
				c.Warnf(a.Line, "KDUMP_NUM_DUMPS is not used with a remote target (as with kdump-tools)")
				break
			}
			c.KeepDumps = n
			set("keep_dumps", a)
		case "KDUMP_FAIL_CMD":
			if val == "" {
				break
			}
			act, ok := debianFailCmd[strings.Join(strings.Fields(val), " ")]
			if !ok {
				fail("%q is a shell command, and gokdump runs none: what to do when saving fails is one of reboot, halt, poweroff (KDUMP_FAIL_CMD=\"reboot -f\" and the like), or use /etc/kdump.conf's failure_action (shell, dump_to_rootfs) and kdump_post", val)
				break
			}
			c.FailureAction = act
			set("failure_action", a)
		case "KDUMP_DUMP_DMESG":
			switch val {
			case "", "1":
			case "0":
				c.NoDmesg = true
				set("dump_dmesg", a)
			default:
				fail("want 1 (save the kernel log) or 0, not %q", val)
			}
		case "KDUMP_COMPRESSION":
			switch val {
			case "":
			case "bzip2", "gzip", "lz4", "xz":
				fail("compressing the whole dump file with %s is not supported: makedumpfile's own compression (-c zlib, -l lzo, -p snappy, -z zstd in MAKEDUMP_ARGS) compresses each page and keeps the dump readable by crash; unset KDUMP_COMPRESSION", val)
			default:
				fail("%q is not a compression kdump-tools knows either (bzip2, gzip, lz4, xz); unset it and compress with MAKEDUMP_ARGS (-c, -l, -p, -z)", val)
			}
		case "KDUMP_CMDLINE":
			words, err := cmdlineWords(val)
			if err != nil {
				fail("%v", err)
			} else if len(words) > 0 {
				c.CmdlineBase = strings.Join(words, " ")
				c.CmdlineBaseFrom = place(v.File, a.Line)
				set("kdump_commandline", a)
			}
		case "KDUMP_CMDLINE_APPEND":
			if _, err := c.appendCmdline(val, v.File, a.Line); err != nil {
				fail("%v", err)
			} else if len(c.CmdlineAppend) > 0 {
				set("kdump_commandline_append", a)
			}
		case "SSH":
			if val == "" {
				break
			}
			if err := setTarget(TargetSSH)(c, p, val, a.Line); err != nil {
				fail("%v", err)
				break
			}
			set("ssh", a)
		case "SSH_KEY":
			if val == "" {
				break
			}
			if ssh.Value == "" {
				c.Warnf(a.Line, "SSH_KEY is not used without SSH")
				break
			}
			if err := absPath(val); err != nil {
				fail("%v", err)
				break
			}
			c.SSHKey = val
			set("sshkey", a)
		case "NFS":
			if val == "" || ssh.Value != "" {
				break
			}
			if err := setTarget(TargetNFS)(c, p, val, a.Line); err != nil {
				fail("%v", err)
				break
			}
			c.Path = "/"
			set("nfs", a)
		case "HOSTTAG":
			switch val {
			case "", "ip", "hostname":
				if val != "" && ssh.Value == "" && nfs.Value == "" {
					c.Warnf(a.Line, "HOSTTAG is only used for SSH and NFS dumps: local dump directories are named YYYYMMDDHHMM")
				}
			default:
				fail("want ip or hostname, not %q", val)
			}
		case "FTP":
			if val != "" {
				fail("FTP upload is not supported: save to a local file system (KDUMP_COREDIR)")
			}
		default:
			if why, ok := debianIgnored[name]; ok {
				if val != "" {
					c.Warnf(a.Line, "%s is ignored: %s", name, why)
				}
				break
			}
			if strings.HasPrefix(name, "KDUMP_COMMANDLINE") || name == "KEXEC_ARGS" || name == "KDUMP_KERNELVER" {
				fail("is a setting of Fedora's /etc/sysconfig/kdump, not of Debian's kdump-tools: put it in %s, next to /etc/kdump.conf", SysconfigFile)
				break
			}
			c.Warnf(a.Line, "%s is not a kdump-tools setting: ignored", name)
		}
	}
	if c.Target.Kind == TargetSSH && !slices.Contains(c.Collector.Args, "-F") {
		// kdump-config always adds it; over ssh the dump is a stream.
		c.Collector.Args = append(c.Collector.Args, "-F")
	}
	if len(p.errs) > 0 {
		return nil, sortErrors(p.errs)
	}
	return c, nil
}
