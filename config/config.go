// Package config reads kdump.conf, the kdump service's configuration, in the syntax of
// Fedora and RHEL (kexec-tools, kdump-utils) so existing files keep working: one
// directive a line, its value after the first run of white space, '#' starting a
// comment anywhere on a line.
//
// Fedora's kdumpctl refuses unknown and deprecated directives instead of ignoring them:
// a typo in a dump configuration would otherwise only show when a crash is lost. This
// package does the same, and also refuses what gokdump does not do (cp or dd as the
// collector, fence_kdump, dracut arguments), every error naming the file and line.
//
//	cfg, err := config.Load("/etc/kdump.conf")
//	// cfg.Path, cfg.Target.Kind, cfg.Collector.Args, cfg.FailureAction, ...
//
// The options of core_collector are makedumpfile's; package config keeps them as words.
// Package makedumpfile checks them (makedumpfile.CheckConfig, which every gokdump
// command that loads the file calls after Load): its parser turns them into the
// collector's options, and config stays free of the collector.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// DefaultFile is where the configuration is read from unless told otherwise.
const DefaultFile = "/etc/kdump.conf"

// DefaultDumpPath is the directory dumps are saved in (path) when none is configured.
const DefaultDumpPath = "/var/crash"

// DefaultCollector is core_collector when none is configured: Fedora's default,
// LZO-compressed, leaving out zero, cache, user and free pages (level 31).
var DefaultCollector = Collector{Program: "makedumpfile", Args: []string{"-l", "--message-level", "7", "-d", "31"}}

// Bounds that keep a hostile or corrupt file from making us hold much.
const (
	maxLineLen = 4096
	maxLines   = 10000
	maxListLen = 256 // entries of extra_bins / extra_modules
)

// Action is what the capture environment does after saving (final_action) or when
// saving fails (failure_action).
type Action string

const (
	ActionReboot       Action = "reboot"
	ActionHalt         Action = "halt"
	ActionPoweroff     Action = "poweroff"
	ActionShell        Action = "shell"          // failure_action only: a shell on the console
	ActionDumpToRootfs Action = "dump_to_rootfs" // failure_action only: save to the root filesystem instead
)

// TargetKind is where dumps go.
type TargetKind string

const (
	// TargetRootfs (no target directive) saves to Path on the root filesystem of the
	// machine, as Fedora does.
	TargetRootfs TargetKind = ""
	TargetExt4   TargetKind = "ext4"
	TargetXFS    TargetKind = "xfs"
	TargetBtrfs  TargetKind = "btrfs"
	// TargetRaw writes the dump as a flattened stream to a raw GPT partition
	// (package rawdump).
	TargetRaw TargetKind = "raw"
	// TargetSSH saves the dump to user@host[:port] over SFTP (or ssh and cat).
	TargetSSH TargetKind = "ssh"
	// TargetNFS mounts host:/export (or [v6addr]:/export) with the kernel's NFS client.
	TargetNFS TargetKind = "nfs"
)

// IsFilesystem reports whether k is a local file system mounted to save a dump.
func (k TargetKind) IsFilesystem() bool {
	return k == TargetExt4 || k == TargetXFS || k == TargetBtrfs
}

// Target is the dump target directive.
type Target struct {
	Kind TargetKind
	// Spec is the directive's value as written: /dev/vdb1, LABEL=dumps, UUID=...,
	// user@host, host:/export.
	Spec string

	// For a file system or raw target, exactly one of Device, Label and UUID is set.
	Device string // a device path, e.g. /dev/vdb1 or /dev/disk/by-id/...
	Label  string // LABEL=: the file system label (raw: the GPT partition name, PARTLABEL)
	UUID   string // UUID=: the file system UUID (raw: the GPT partition GUID, PARTUUID)

	User   string // ssh: the remote user
	Host   string // ssh, nfs: the server (an IPv6 address without its brackets)
	Port   int    // ssh: the server's port (0: 22)
	Export string // nfs: the exported directory

	Line int // where the directive is; 0 when there is none
}

// Collector is the core_collector directive: the program and its options, without
// the VMCORE and DUMPFILE operands, which the capture environment adds.
type Collector struct {
	// Program is "makedumpfile" or "gokdump dump" (both run gokdump's collector).
	Program string
	Args    []string
	Line    int // 0 for the default
}

// String returns the directive's value as it would be written.
func (c Collector) String() string {
	return strings.Join(append([]string{c.Program}, c.Args...), " ")
}

// Config is a parsed kdump.conf with defaults filled in.
type Config struct {
	File string // the file it was read from (for messages)

	// Path is the directory dumps are saved in: an absolute path on the target file
	// system (the root file system when there is no target), or on the ssh/nfs server.
	Path      string
	Collector Collector
	Target    Target
	// SSHKey is the private key for an ssh target ("" : DefaultSSHKey).
	SSHKey string
	// DHCP is gokdump's extension kdump_dhcp yes: the capture kernel gets its
	// address for a network target by DHCP even when the first kernel's is static.
	DHCP bool
	// Pre and Post are the kdump_pre and kdump_post hooks ("" for none): executables
	// run before the dump (a non-zero exit skips it) and after it (with the exit code
	// as $1).
	Pre, Post string
	// ExtraBins are programs copied, with their shared libraries, into the capture
	// initramfs (for the hooks).
	ExtraBins []string
	// ExtraModules are kernel modules added to the capture initramfs beyond those
	// the target needs.
	ExtraModules  []string
	FailureAction Action
	FinalAction   Action
	// ForceRebuild rebuilds the capture initramfs on every start; ForceNoRebuild
	// never rebuilds an existing one.
	ForceRebuild, ForceNoRebuild bool
	// KeepDumps is gokdump's extension keep_dumps N: the capture prunes the dumps in
	// Path to the newest N-1 before it writes, so that with the new one N are kept
	// and the space of the old ones is free for it. 0 keeps them all.
	KeepDumps int

	// AutoResetCrashkernel is kdump-utils' auto_reset_crashkernel (yes, the default,
	// or no): whether the crashkernel command resets the kernels' reservation to its
	// recommendation when that changes (package config only records it).
	AutoResetCrashkernel bool

	// The capture kernel's command line, gokdump's extensions of kdump.conf, also set
	// from /etc/sysconfig/kdump (ApplySysconfig) and Debian's KDUMP_CMDLINE*:
	// CmdlineBase (kdump_commandline) is used instead of the running kernel's
	// command line; the parameters named in CmdlineRemove (kdump_commandline_remove,
	// by name, "quiet" or "log_buf_len") are taken out of it and of gokdump's own
	// capture options; CmdlineAppend (kdump_commandline_append) is added last.
	CmdlineBase   string
	CmdlineRemove []string
	CmdlineAppend []string
	// CmdlineBaseFrom and CmdlineAppendFrom say where CmdlineBase and each word of
	// CmdlineAppend were given ("/etc/kdump.conf:12"; every place for a word
	// appended from two), so that start can name the line of a parameter it
	// refuses (CmdlineSource).
	CmdlineBaseFrom   string
	CmdlineAppendFrom map[string][]string
	// CaptureCPUs (capture_cpus, gokdump's extension) is the capture kernel's
	// nr_cpus; 0 (auto) lets gokdump start choose from the reservation. See cpus.go.
	CaptureCPUs int
	// KernelVersion (kdump_kernelver) is the kernel release to arm ("" : the running
	// one, unless the command line or $KDUMP_KERNELVER names one).
	KernelVersion string
	// Layout (dump_layout) is how dump directories and files are named: Fedora's
	// (the default) or Debian's.
	Layout Layout
	// NoDmesg (dump_dmesg 0) leaves the kernel log out of the dump directory.
	NoDmesg bool
	// Disabled says why gokdump start must not arm ("" : it may): Debian's
	// USE_KDUMP unset or 0.
	Disabled string
	// Unsupported are directives of kdump-utils that are read but that gokdump does
	// not carry out (dracut_args, fence_kdump_*, kdump_emergency, minix, virtiofs),
	// with their values: service.CheckDirectives refuses them on their lines.
	Unsupported map[string]string
	// Warnings are what config check and start print about the file without
	// refusing it (a deprecated name, ignored variables), each with file and line.
	Warnings []string
	// Origin names, for a configuration read from another format (Debian's
	// defaults file), the variable each directive came from, for messages.
	Origin map[string]string

	// S3 is gokdump's upload extension: the s3_* directives (config/s3.go).
	S3 S3

	// Lines maps each directive present to the line it is on.
	Lines map[string]int
}

// Layout is how a capture names its dump directory and files.
type Layout string

const (
	// LayoutFedora: PATH/<host>-<YYYY-MM-DD-HH:MM:SS>/vmcore and vmcore-dmesg.txt.
	LayoutFedora Layout = ""
	// LayoutDebian: PATH/<YYYYMMDDHHMM>/dump.<YYYYMMDDHHMM> and dmesg.<YYYYMMDDHHMM>,
	// as Debian's kdump-tools names them.
	LayoutDebian Layout = "debian"
)

// Warnf records a warning about line of the file.
func (c *Config) Warnf(line int, format string, args ...any) {
	e := &Error{File: c.File, Line: line, Msg: fmt.Sprintf(format, args...)}
	c.Warnings = append(c.Warnings, e.Error())
}

// Describe names directive k for a message: "k", or "VAR (k)" when it came from
// another format's variable VAR.
func (c *Config) Describe(k string) string {
	if v := c.Origin[k]; v != "" {
		return v + " (" + k + ")"
	}
	return k
}

// Default returns the configuration of an empty file.
func Default() *Config {
	return &Config{
		Path:          DefaultDumpPath,
		Collector:     Collector{Program: DefaultCollector.Program, Args: append([]string(nil), DefaultCollector.Args...)},
		FailureAction: ActionReboot,
		FinalAction:   ActionReboot,
		// kdump-utils' default: yes.
		AutoResetCrashkernel: true,
		S3:                   S3{FullDumps: DefaultS3FullDumps},
		Lines:                map[string]int{},
	}
}

// Error is one bad line of a configuration file.
type Error struct {
	File string
	Line int // 0 when about the file as a whole
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// ErrorList is every problem found in a file, in line order; Parse reports them all
// at once so one run of "gokdump config check" shows everything to fix.
type ErrorList []*Error

func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find the individual errors.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Load reads the configuration file at file.
// A shell-variable file is read as Debian's /etc/default/kdump-tools (FromDebian).
func Load(file string) (*Config, error) {
	c, _, err := LoadOrDefault(file, true)
	return c, err
}

// LoadOrDefault is Load for the service, which must work on a machine nobody
// configured: a missing file that was not named explicitly (explicit is false: the
// default location) is the default configuration, as with Fedora's kdump, where an
// installed but untouched service dumps to /var/crash; its File says so. A missing
// file named explicitly is an error. data is the file's bytes (nil for the defaults),
// which the capture initramfs carries.
func LoadOrDefault(file string, explicit bool) (c *Config, data []byte, err error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		c = Default()
		c.File = file + " (missing: defaults)"
		return c, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	// Parse refuses more than maxLines lines of maxLineLen: read no more than that.
	const maxSize = maxLines * (maxLineLen + 1)
	data, err = io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > maxSize {
		return nil, nil, &Error{File: file, Msg: fmt.Sprintf("larger than %d bytes: not a kdump.conf", maxSize)}
	}
	c, err = parseData(data, file)
	if err != nil {
		return nil, nil, err
	}
	return c, data, nil
}

// directive says how one kdump.conf directive is read.
type directive struct {
	// set parses value into c; it returns the problem with the value.
	set func(c *Config, p *parser, value string, line int) error
	// list directives may repeat (each line adds to the list).
	list bool
}

// deprecated are directives Fedora once had and kdumpctl now refuses, with what
// replaces them.
var deprecated = map[string]string{
	"net":             "use \"ssh user@host\" or \"nfs host:/export\"",
	"options":         "module parameters are not supported; modules load without parameters",
	"link_delay":      "network targets wait by themselves",
	"disk_timeout":    "the capture environment waits a bounded time for the target by itself",
	"debug_mem_level": "not supported",
	"blacklist":       "leave the module out of extra_modules",
}

// unsupported are directives of kdump-utils' kdump.conf that gokdump reads but does
// not carry out: Parse accepts them (a Fedora file is read whole) and keeps them in
// Config.Unsupported; service.CheckDirectives refuses them with these reasons' long
// forms, on their lines, so config check and start say what to change.
var unsupported = []string{"dracut_args", "fence_kdump_args", "fence_kdump_nodes", "kdump_emergency", "minix", "virtiofs"}

var directives = map[string]directive{
	"path":           {set: setPath},
	"core_collector": {set: setCollector},
	"ext4":           {set: setTarget(TargetExt4)},
	// The ext4 driver mounts ext2 and ext3 file systems; Parse notes it.
	"ext2":  {set: setTarget(TargetExt4)},
	"ext3":  {set: setTarget(TargetExt4)},
	"xfs":   {set: setTarget(TargetXFS)},
	"btrfs": {set: setTarget(TargetBtrfs)},
	"raw":   {set: setTarget(TargetRaw)},
	"ssh":   {set: setTarget(TargetSSH)},
	"nfs":   {set: setTarget(TargetNFS)},
	"sshkey": {set: func(c *Config, _ *parser, v string, _ int) error {
		if err := absPath(v); err != nil {
			return err
		}
		c.SSHKey = v
		return nil
	}},
	"kdump_pre":        {set: setHook(func(c *Config) *string { return &c.Pre })},
	"kdump_post":       {set: setHook(func(c *Config) *string { return &c.Post })},
	"extra_bins":       {set: setExtraBins, list: true},
	"extra_modules":    {set: setExtraModules, list: true},
	"failure_action":   {set: setAction(func(c *Config) *Action { return &c.FailureAction }, true)},
	"final_action":     {set: setAction(func(c *Config) *Action { return &c.FinalAction }, false)},
	"force_rebuild":    {set: setBool(func(c *Config) *bool { return &c.ForceRebuild })},
	"kdump_dhcp":       {set: setBool(func(c *Config) *bool { return &c.DHCP })},
	"force_no_rebuild": {set: setBool(func(c *Config) *bool { return &c.ForceNoRebuild })},
	"keep_dumps": {set: func(c *Config, _ *parser, v string, _ int) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100000 {
			return fmt.Errorf("want a number of dumps to keep (0 keeps all), not %q", v)
		}
		c.KeepDumps = n
		return nil
	}},
	"auto_reset_crashkernel": {set: func(c *Config, _ *parser, v string, _ int) error {
		switch v {
		case "yes":
			c.AutoResetCrashkernel = true
		case "no":
			c.AutoResetCrashkernel = false
		default:
			return fmt.Errorf("want yes or no, not %q", v)
		}
		return nil
	}},
	// gokdump's extensions, named after /etc/sysconfig/kdump's variables.
	"kdump_commandline": {set: func(c *Config, _ *parser, v string, line int) error {
		words, err := cmdlineWords(v)
		if err != nil {
			return err
		}
		c.CmdlineBase = strings.Join(words, " ")
		c.CmdlineBaseFrom = place(c.File, line)
		return nil
	}},
	"kdump_commandline_remove": {set: func(c *Config, _ *parser, v string, _ int) error {
		_, err := addCmdline(&c.CmdlineRemove, v, true)
		return err
	}, list: true},
	"kdump_commandline_append": {set: func(c *Config, _ *parser, v string, line int) error {
		_, err := c.appendCmdline(v, c.File, line)
		return err
	}, list: true},
	"kdump_kernelver": {set: func(c *Config, _ *parser, v string, _ int) error {
		if err := checkRelease(v); err != nil {
			return err
		}
		c.KernelVersion = v
		return nil
	}},
	"dump_layout": {set: func(c *Config, _ *parser, v string, _ int) error {
		switch v {
		case "fedora":
			c.Layout = LayoutFedora
		case "debian":
			c.Layout = LayoutDebian
		default:
			return fmt.Errorf("want fedora (HOST-DATE/vmcore) or debian (YYYYMMDDHHMM/dump.YYYYMMDDHHMM), not %q", v)
		}
		return nil
	}},
	"dump_dmesg": {set: func(c *Config, _ *parser, v string, _ int) error {
		switch v {
		case "0", "1":
			c.NoDmesg = v == "0"
			return nil
		}
		return fmt.Errorf("want 0 or 1, not %q", v)
	}},
}

func init() {
	for _, k := range unsupported {
		directives[k] = directive{set: setUnsupported(k)}
	}
}

func setUnsupported(k string) func(*Config, *parser, string, int) error {
	return func(c *Config, _ *parser, v string, _ int) error {
		if c.Unsupported == nil {
			c.Unsupported = map[string]string{}
		}
		c.Unsupported[k] = v
		return nil
	}
}

// targetDirectives are the directives that name a dump target; at most one may appear.
var targetDirectives = []string{"ext2", "ext3", "ext4", "xfs", "btrfs", "raw", "ssh", "nfs", "minix", "virtiofs"}

// maxCmdlineWords bounds the kernel parameters of the command line directives.
const maxCmdlineWords = 256

// cmdlineWords splits kernel parameters at white space; quoted values are refused.
func cmdlineWords(v string) ([]string, error) {
	if strings.ContainsAny(v, `"'`) {
		return nil, fmt.Errorf("quoted kernel parameters are not supported: %q", v)
	}
	words := strings.Fields(v)
	if len(words) > maxCmdlineWords {
		return nil, fmt.Errorf("more than %d kernel parameters", maxCmdlineWords)
	}
	return words, nil
}

// addCmdline adds the parameters of v to list, and returns them; names only (no "=")
// when names. A parameter (not a name) given again moves to the end: where the kernel
// meets a parameter twice the later one counts (module_blacklist=, nr_cpus=), and the
// later line is the user's last word.
func addCmdline(list *[]string, v string, names bool) ([]string, error) {
	words, err := cmdlineWords(v)
	if err != nil {
		return nil, err
	}
	for _, w := range words {
		if names && strings.Contains(w, "=") {
			return nil, fmt.Errorf("want parameter names to remove (e.g. quiet log_buf_len), not %q", w)
		}
		if w == "--" {
			return nil, errors.New(`"--" (arguments to init) is not supported here`)
		}
		if names {
			*list = appendUnique(*list, w)
		} else {
			if err := checkNrCPUs(w); err != nil {
				return nil, err
			}
			*list = appendLast(*list, w)
		}
	}
	if len(*list) > maxCmdlineWords {
		return nil, fmt.Errorf("more than %d kernel parameters", maxCmdlineWords)
	}
	return words, nil
}

// appendCmdline appends the parameters of v, given at file:line, to CmdlineAppend,
// records where they were given (CmdlineAppendFrom), and returns them.
func (c *Config) appendCmdline(v, file string, line int) ([]string, error) {
	words, err := addCmdline(&c.CmdlineAppend, v, false)
	if err != nil {
		return nil, err
	}
	if c.CmdlineAppendFrom == nil {
		c.CmdlineAppendFrom = map[string][]string{}
	}
	at := place(file, line)
	for _, w := range words {
		if !slices.Contains(c.CmdlineAppendFrom[w], at) {
			c.CmdlineAppendFrom[w] = append(c.CmdlineAppendFrom[w], at)
		}
	}
	return words, nil
}

// place is file:line, as messages name a line.
func place(file string, line int) string { return fmt.Sprintf("%s:%d", file, line) }

// CmdlineSource says where the configuration gave param, a parameter of the capture
// command line, as "file:line" (places joined by " and "), and whether it was
// appended; "" when the configuration did not give it (it came from the running
// kernel's command line). An appended word is looked up first: the capture
// command line drops a base parameter that is appended again.
func (c *Config) CmdlineSource(param string) (at string, appended bool) {
	if l := c.CmdlineAppendFrom[param]; len(l) > 0 && slices.Contains(c.CmdlineAppend, param) {
		return strings.Join(l, " and "), true
	}
	if c.CmdlineBaseFrom != "" && strings.Contains(" "+c.CmdlineBase+" ", " "+param+" ") {
		return c.CmdlineBaseFrom, false
	}
	return "", false
}

// checkRelease checks a kernel release name (a directory under /lib/modules).
func checkRelease(v string) error {
	if v == "." || v == ".." || strings.ContainsAny(v, "/ \t") || len(v) > 255 {
		return fmt.Errorf("want a kernel release (as uname -r prints it), not %q", v)
	}
	return nil
}

type parser struct {
	name string
	errs ErrorList
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.name, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Parse reads a kdump.conf from r; name is the file name used in errors. It returns
// the configuration with defaults filled in, or an ErrorList of every bad line.
func Parse(r io.Reader, name string) (*Config, error) {
	c := Default()
	c.File = name
	p := &parser{name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxLineLen)
	line := 0
	for sc.Scan() {
		line++
		if line > maxLines {
			p.errorf(line, "more than %d lines: not a kdump.conf", maxLines)
			break
		}
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		if !isText(text) {
			p.errorf(line, "contains control characters or invalid UTF-8")
			continue
		}
		key, value := text, ""
		if i := strings.IndexAny(text, " \t"); i >= 0 {
			key, value = text[:i], strings.TrimSpace(text[i+1:])
		}
		if key == "default" {
			// kdumpctl still reads it, with a deprecation warning.
			c.Warnf(line, "directive default is deprecated: it was renamed failure_action and will be removed; write failure_action instead")
			if prev, dup := c.Lines["failure_action"]; dup {
				p.errorf(line, "default (the old name of failure_action): the failure action is given twice (first on line %d)", prev)
				continue
			}
			key = "failure_action"
		}
		d, ok := directives[key]
		if !ok {
			switch {
			case deprecated[key] != "":
				p.errorf(line, "deprecated directive %q: %s", key, deprecated[key])
			default:
				p.errorf(line, "unknown directive %q", key)
			}
			continue
		}
		if value == "" {
			p.errorf(line, "%s: missing value", key)
			continue
		}
		if prev, dup := c.Lines[key]; dup && !d.list {
			p.errorf(line, "%s given twice (first on line %d)", key, prev)
			continue
		}
		if isTarget(key) {
			if k, prev := c.targetLine(); prev != 0 {
				p.errorf(line, "%s: only one dump target may be given (%s on line %d)", key, k, prev)
				continue
			}
		}
		if err := d.set(c, p, value, line); err != nil {
			p.errorf(line, "%s: %v", key, err)
			continue
		}
		if key == "ext2" || key == "ext3" {
			c.Warnf(line, "%s: mounted with the ext4 driver, which reads %s file systems", key, key)
		}
		if _, seen := c.Lines[key]; !seen {
			c.Lines[key] = line
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			p.errorf(line+1, "line longer than %d bytes", maxLineLen)
		} else {
			p.errs = append(p.errs, &Error{File: name, Msg: err.Error()})
		}
	}
	c.checkCombinations(p)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return c, nil
}

// checkCombinations applies the rules that involve several directives.
func (c *Config) checkCombinations(p *parser) {
	c.checkCaptureCPUs(p)
	if c.ForceRebuild && c.ForceNoRebuild {
		p.errorf(c.Lines["force_no_rebuild"], "force_rebuild and force_no_rebuild cannot both be 1")
	}
	if c.SSHKey != "" && c.Target.Kind != TargetSSH {
		p.errorf(c.Lines["sshkey"], "sshkey is only used with an ssh target")
	}
	if c.Layout == LayoutDebian && c.Target.Kind == TargetRaw {
		p.errorf(c.Lines["dump_layout"], "dump_layout debian: a raw target's dumps are converted at the next boot in Fedora's layout; leave dump_layout out")
	}
	if c.DHCP && c.Target.Kind != TargetSSH && c.Target.Kind != TargetNFS {
		p.errorf(c.Lines["kdump_dhcp"], "kdump_dhcp is only used with an ssh or nfs target")
	}
	if c.FailureAction == ActionDumpToRootfs && c.Target.Kind == TargetRootfs && c.Lines["failure_action"] != 0 {
		p.errorf(c.Lines["failure_action"], "failure_action dump_to_rootfs: the dump already goes to the root file system (no target is given)")
	}
	c.checkS3(p)
}

// targetLine returns the target directive present and its line (0 when none).
func (c *Config) targetLine() (string, int) {
	for _, t := range targetDirectives {
		if l := c.Lines[t]; l != 0 {
			return t, l
		}
	}
	return "", 0
}

func isTarget(key string) bool {
	for _, t := range targetDirectives {
		if t == key {
			return true
		}
	}
	return false
}

// isText reports whether s is valid UTF-8 without control characters (tabs aside).
func isText(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' || (r < 0x20 && r != '\t') || r == 0x7f {
			return false
		}
	}
	return true
}

// absPath checks that v is one clean absolute path without white space.
func absPath(v string) error {
	if strings.ContainsAny(v, " \t") {
		return fmt.Errorf("want one path, not %q", v)
	}
	if !path.IsAbs(v) {
		return fmt.Errorf("want an absolute path, not %q", v)
	}
	return nil
}

func setPath(c *Config, _ *parser, v string, _ int) error {
	if err := absPath(v); err != nil {
		return err
	}
	c.Path = path.Clean(v)
	return nil
}

func setCollector(c *Config, _ *parser, v string, line int) error {
	words := strings.Fields(v)
	var prog string
	var args []string
	switch {
	case path.Base(words[0]) == "makedumpfile":
		prog, args = "makedumpfile", words[1:]
	case path.Base(words[0]) == "gokdump" && len(words) > 1 && words[1] == "dump":
		prog, args = "gokdump dump", words[2:]
	default:
		return fmt.Errorf("want makedumpfile or \"gokdump dump\" with options, not %q (cp, dd and scp collectors are not supported)", words[0])
	}
	for _, a := range args {
		if strings.ContainsAny(a, `"'\$`+"`") {
			return fmt.Errorf("option %q: quoting and shell expansion are not supported", a)
		}
	}
	c.Collector = Collector{Program: prog, Args: args, Line: line}
	return nil
}

func setTarget(kind TargetKind) func(*Config, *parser, string, int) error {
	return func(c *Config, _ *parser, v string, line int) error {
		if strings.ContainsAny(v, " \t") {
			return fmt.Errorf("want one value, not %q", v)
		}
		t := Target{Kind: kind, Spec: v, Line: line}
		switch kind {
		case TargetSSH:
			u, hp, ok := strings.Cut(v, "@")
			if !ok || u == "" || hp == "" || !isName(u) {
				return fmt.Errorf("want user@host[:port], not %q", v)
			}
			h, port, err := splitHostPort(hp)
			if err != nil {
				return fmt.Errorf("want user@host[:port], not %q: %v", v, err)
			}
			t.User, t.Host, t.Port = u, h, port
		case TargetNFS:
			var h, e string
			var ok bool
			if rest, v6 := strings.CutPrefix(v, "["); v6 {
				h, e, ok = strings.Cut(rest, "]:")
				if ok && !isIPv6(h) {
					return fmt.Errorf("[%s] is not an IPv6 address", h)
				}
			} else {
				h, e, ok = strings.Cut(v, ":")
				ok = ok && isName(h)
			}
			if !ok || h == "" || !path.IsAbs(e) {
				return fmt.Errorf("want host:/export or [v6addr]:/export, not %q", v)
			}
			t.Host, t.Export = h, path.Clean(e)
		default:
			switch {
			case strings.HasPrefix(v, "LABEL="):
				t.Label = v[len("LABEL="):]
				if t.Label == "" {
					return errors.New("LABEL= needs a label")
				}
			case strings.HasPrefix(v, "UUID="):
				t.UUID = strings.ToLower(v[len("UUID="):])
				if !isUUID(t.UUID) {
					return fmt.Errorf("UUID=%s is not a file system UUID (hex digits and dashes)", v[len("UUID="):])
				}
			case strings.HasPrefix(v, "/dev/"):
				if path.Clean(v) != v {
					return fmt.Errorf("device %q is not a clean path", v)
				}
				t.Device = v
			default:
				return fmt.Errorf("want a device (/dev/...), LABEL=label or UUID=uuid, not %q", v)
			}
		}
		c.Target = t
		return nil
	}
}

// DefaultSSHKey is the ssh target's private key when sshkey is not given, as
// kdump-utils has it.
const DefaultSSHKey = "/root/.ssh/kdump_id_rsa"

// isName accepts a user or host name: letters, digits and -._ (no shell or
// ssh-option characters).
func isName(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.Zone() == ""
}

// splitHostPort splits host[:port] or [v6addr][:port].
func splitHostPort(hp string) (string, int, error) {
	host, port := hp, ""
	if rest, v6 := strings.CutPrefix(hp, "["); v6 {
		h, p, ok := strings.Cut(rest, "]")
		if !ok || !isIPv6(h) {
			return "", 0, fmt.Errorf("[%s is not a bracketed IPv6 address", rest)
		}
		host = h
		if p != "" {
			if port, ok = strings.CutPrefix(p, ":"); !ok {
				return "", 0, fmt.Errorf("%q after the address", p)
			}
		}
	} else if h, p, ok := strings.Cut(hp, ":"); ok {
		host, port = h, p
		if !isName(host) {
			return "", 0, fmt.Errorf("host %q", host)
		}
	} else if !isName(host) {
		return "", 0, fmt.Errorf("host %q", host)
	}
	if port == "" && strings.HasSuffix(hp, ":") {
		return "", 0, errors.New("empty port")
	}
	if port == "" {
		return host, 0, nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return "", 0, fmt.Errorf("port %q", port)
	}
	return host, n, nil
}

// isUUID accepts the UUIDs blkid prints: 128-bit ones with dashes and the short
// serial numbers of FAT-like file systems (hex digits, with or without a dash).
func isUUID(s string) bool {
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'f':
			digits++
		case r == '-':
		default:
			return false
		}
	}
	return digits >= 8 && digits <= 32
}

func setHook(field func(*Config) *string) func(*Config, *parser, string, int) error {
	return func(c *Config, _ *parser, v string, _ int) error {
		if err := absPath(v); err != nil {
			return fmt.Errorf("%v (the hook is one executable; put arguments in a script)", err)
		}
		*field(c) = path.Clean(v)
		return nil
	}
}

func setExtraBins(c *Config, _ *parser, v string, _ int) error {
	for _, b := range strings.Fields(v) {
		if !path.IsAbs(b) {
			return fmt.Errorf("want absolute paths, not %q", b)
		}
		c.ExtraBins = appendUnique(c.ExtraBins, path.Clean(b))
	}
	if len(c.ExtraBins) > maxListLen {
		return fmt.Errorf("more than %d programs", maxListLen)
	}
	return nil
}

func setExtraModules(c *Config, _ *parser, v string, _ int) error {
	for _, m := range strings.Fields(v) {
		if strings.ContainsAny(m, "/.=") {
			return fmt.Errorf("want module names (e.g. virtio_blk), not %q", m)
		}
		c.ExtraModules = appendUnique(c.ExtraModules, strings.ReplaceAll(m, "-", "_"))
	}
	if len(c.ExtraModules) > maxListLen {
		return fmt.Errorf("more than %d modules", maxListLen)
	}
	return nil
}

// appendLast appends s to list, taking out an earlier copy.
func appendLast(list []string, s string) []string {
	return append(slices.DeleteFunc(list, func(x string) bool { return x == s }), s)
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func setAction(field func(*Config) *Action, failure bool) func(*Config, *parser, string, int) error {
	return func(c *Config, _ *parser, v string, _ int) error {
		a := Action(v)
		switch a {
		case ActionReboot, ActionHalt, ActionPoweroff:
		case ActionShell, ActionDumpToRootfs:
			if !failure {
				return fmt.Errorf("want reboot, halt or poweroff, not %q", v)
			}
		default:
			if failure {
				return fmt.Errorf("want reboot, halt, poweroff, shell or dump_to_rootfs, not %q", v)
			}
			return fmt.Errorf("want reboot, halt or poweroff, not %q", v)
		}
		*field(c) = a
		return nil
	}
}

func setBool(field func(*Config) *bool) func(*Config, *parser, string, int) error {
	return func(c *Config, _ *parser, v string, _ int) error {
		switch v {
		case "0":
			*field(c) = false
		case "1":
			*field(c) = true
		default:
			return fmt.Errorf("want 0 or 1, not %q", v)
		}
		return nil
	}
}

// Format writes c in kdump.conf syntax, one directive a line, defaults included, so
// the output is the effective configuration and parses back to the same Config.
func (c *Config) Format(w io.Writer) error {
	var b strings.Builder
	put := func(k, v string) { fmt.Fprintf(&b, "%s %s\n", k, v) }
	put("path", c.Path)
	put("core_collector", c.Collector.String())
	if c.Target.Kind != TargetRootfs {
		put(string(c.Target.Kind), c.Target.Spec)
	}
	if c.SSHKey != "" {
		put("sshkey", c.SSHKey)
	}
	if c.DHCP {
		put("kdump_dhcp", "1")
	}
	if c.Pre != "" {
		put("kdump_pre", c.Pre)
	}
	if c.Post != "" {
		put("kdump_post", c.Post)
	}
	if len(c.ExtraBins) > 0 {
		put("extra_bins", strings.Join(c.ExtraBins, " "))
	}
	if len(c.ExtraModules) > 0 {
		put("extra_modules", strings.Join(c.ExtraModules, " "))
	}
	put("failure_action", string(c.FailureAction))
	put("final_action", string(c.FinalAction))
	put("force_rebuild", b01(c.ForceRebuild))
	put("force_no_rebuild", b01(c.ForceNoRebuild))
	put("keep_dumps", strconv.Itoa(c.KeepDumps))
	put("auto_reset_crashkernel", map[bool]string{true: "yes", false: "no"}[c.AutoResetCrashkernel])
	if c.CmdlineBase != "" {
		put("kdump_commandline", c.CmdlineBase)
	}
	if len(c.CmdlineRemove) > 0 {
		put("kdump_commandline_remove", strings.Join(c.CmdlineRemove, " "))
	}
	if len(c.CmdlineAppend) > 0 {
		put("kdump_commandline_append", strings.Join(c.CmdlineAppend, " "))
	}
	if c.CaptureCPUs > 0 {
		put("capture_cpus", strconv.Itoa(c.CaptureCPUs))
	}
	if c.KernelVersion != "" {
		put("kdump_kernelver", c.KernelVersion)
	}
	if c.Layout == LayoutDebian {
		put("dump_layout", "debian")
	}
	if c.NoDmesg {
		put("dump_dmesg", "0")
	}
	c.formatS3(put)
	keys := make([]string, 0, len(c.Unsupported))
	for k := range c.Unsupported {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		put(k, c.Unsupported[k])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func b01(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// Directives returns the names of the directives Parse accepts, sorted.
func Directives() []string {
	names := make([]string, 0, len(directives))
	for k := range directives {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
