package kexec

import "strings"

// DefaultCaptureOptions are added to the capture kernel's command line. They are
// Fedora's x86_64 kdump list, each there to make a kernel booting in a small
// reservation on a crashed machine's hardware come up reliably:
//
//	irqpoll                   devices left mid-interrupt by the crashed kernel can wedge IRQ lines
//	nr_cpus=1                 one CPU: less memory for per-CPU data, no secondary CPU bring-up
//	reset_devices             drivers reset hardware instead of trusting its state
//	cgroup_disable=memory     the memory controller's page_cgroup data costs memory
//	mce=off                   machine checks left pending by the crash must not panic the capture kernel
//	numa=off                  one node: less memory for per-node structures
//	transparent_hugepage=never huge pages waste the little memory there is
//	acpi_no_memhotplug        no memory hot-plug in the capture kernel
//	panic=10                  reboot 10 s after a panic of the capture kernel instead of hanging
//	nokaslr                   load where placed: the reservation is small and KASLR adds nothing here
var DefaultCaptureOptions = []string{
	"irqpoll", "nr_cpus=1", "reset_devices", "cgroup_disable=memory", "mce=off", "numa=off",
	"transparent_hugepage=never", "acpi_no_memhotplug", "panic=10", "nokaslr",
}

// removedOptions are options of the running kernel that must not reach the capture
// kernel, by key.
var removedOptions = map[string]string{
	"crashkernel":        "reserves memory: meaningless (and wasteful) in the capture kernel",
	"panic_on_warn":      "a warning during capture must not stop the dump",
	"initrd":             "the capture initramfs is passed by kexec_file_load",
	"BOOT_IMAGE":         "added by the boot loader for the first kernel",
	"elfcorehdr":         "added by the kernel when it loads the capture kernel",
	"memmap":             "the kernel describes the capture kernel's memory itself",
	"resume":             "the capture kernel must not resume a hibernation image",
	"hugepages":          "reserving huge pages would exhaust the reservation",
	"hugepagesz":         "goes with hugepages",
	"default_hugepagesz": "goes with hugepages",
	"hugetlb_cma":        "a CMA area does not fit the reservation",
	"cma":                "a CMA area does not fit the reservation",
	"log_buf_len":        "a large log buffer wastes capture memory",
	"slub_debug":         "debugging allocators cost memory",
	"quiet":              "the capture kernel's progress should be visible on the console",
	"nomodule":           "disables module loading (modules_disabled), and the capture initramfs loads the dump target's modules",
}

// CaptureCmdline returns the capture kernel's command line for a running kernel
// whose command line is current (as in /proc/cmdline): current without the options
// that do not apply to a capture kernel (crashkernel=, panic_on_warn, initrd=,
// BOOT_IMAGE=, elfcorehdr=, memmap=, resume=, huge page and CMA reservations,
// log_buf_len=, slub_debug, quiet, nomodule), followed by DefaultCaptureOptions and then
// extra. Each key appears once: an option from DefaultCaptureOptions replaces the
// same key in current, and one from extra replaces both. Keys compare as the
// kernel compares them ('-' and '_' are the same). Arguments after "--", which go
// to init, are kept at the end.
func CaptureCmdline(current string, extra []string) string {
	return BuildCaptureCmdline(CmdlineSpec{Current: current, Extra: extra})
}

// CmdlineSpec says how the capture kernel's command line is made, with what
// Fedora's /etc/sysconfig/kdump and Debian's kdump-tools let an administrator
// change.
type CmdlineSpec struct {
	// Current is the running kernel's command line (/proc/cmdline).
	Current string
	// Base, when not empty, is used instead of Current (KDUMP_COMMANDLINE,
	// Debian's KDUMP_CMDLINE).
	Base string
	// Remove names parameters taken out of the base and of DefaultCaptureOptions,
	// by key ("quiet", "irqpoll", "cma": every cma=), as KDUMP_COMMANDLINE_REMOVE.
	Remove []string
	// Extra are added last (the kdump.conf or sysconfig append list, then the
	// service's own options); the last of a key wins.
	Extra []string
}

// BuildCaptureCmdline returns the capture kernel's command line s describes: the
// base (Base, else Current) without the options that never apply to a capture
// kernel (see CaptureCmdline) and without those named in Remove, then
// DefaultCaptureOptions not named in Remove, then Extra, each key once.
func BuildCaptureCmdline(s CmdlineSpec) string {
	base := s.Current
	if strings.TrimSpace(s.Base) != "" {
		base = s.Base
	}
	remove := map[string]bool{}
	for _, r := range s.Remove {
		remove[optionKey(r)] = true
	}
	params, initArgs := splitInitArgs(tokenize(base))
	var added []string
	for _, o := range DefaultCaptureOptions {
		if !remove[optionKey(o)] {
			added = append(added, o)
		}
	}
	added = append(added, s.Extra...)
	// The last occurrence of each added key wins.
	last := map[string]int{}
	for i, o := range added {
		last[optionKey(o)] = i
	}
	var out []string
	for _, p := range params {
		k := optionKey(p)
		if _, drop := removedOptions[k]; drop || remove[k] {
			continue
		}
		if _, replaced := last[k]; replaced {
			continue
		}
		out = append(out, p)
	}
	for i, o := range added {
		if o = strings.TrimSpace(o); o != "" && last[optionKey(o)] == i {
			out = append(out, o)
		}
	}
	if len(initArgs) > 0 {
		out = append(append(out, "--"), initArgs...)
	}
	return strings.Join(out, " ")
}

// Last returns the last parameter of cmdline named key ('-' and '_' alike), the one the
// kernel keeps, as written there ("module-blacklist=a,b"), or false when there is
// none; parameters after "--" go to init and are not looked at.
func Last(cmdline, key string) (string, bool) {
	params, _ := splitInitArgs(tokenize(cmdline))
	for i := len(params) - 1; i >= 0; i-- {
		if optionKey(params[i]) == optionKey(key) {
			return params[i], true
		}
	}
	return "", false
}

// optionKey returns the parameter name of an option ("nr_cpus" of "nr_cpus=1"),
// with '-' written as '_' because the kernel treats them alike in parameter names.
// Removal keys are matched the same way, so "panic-on-warn" is caught too.
func optionKey(opt string) string {
	k, _, _ := strings.Cut(opt, "=")
	return strings.ReplaceAll(k, "-", "_")
}

// tokenize splits a kernel command line at spaces outside double quotes, as the
// kernel does (param="value with spaces").
func tokenize(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote := false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			cur.WriteRune(r)
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// splitInitArgs separates kernel parameters from the arguments after "--".
func splitInitArgs(tokens []string) (params, initArgs []string) {
	for i, t := range tokens {
		if t == "--" {
			return tokens[:i], tokens[i+1:]
		}
	}
	return tokens, nil
}
