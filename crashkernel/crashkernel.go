// Package crashkernel is the memory reserved for the capture kernel: the crashkernel=
// option of the kernel command line, what is reserved now, what to reserve for a
// machine's memory size, and writing the option into the boot loader configuration the
// distribution uses, as "gokdump crashkernel" does:
//
//	cur, err := crashkernel.Current("/")            // /proc/cmdline, kexec_crash_size
//	opt := crashkernel.RecommendRanges(est.For)       // "1G-16G:176M,16G-64G:208M,..."
//	ch, err := crashkernel.Apply("/", opt, crashkernel.Exec)
//
// Apply writes a GRUB drop-in (/etc/default/grub.d/gokdump-crashkernel.cfg) and runs
// update-grub on Debian and Ubuntu; on Fedora and RHEL it runs grubby --update-kernel=ALL
// when grubby is installed, else edits the options line of each Boot Loader
// Specification entry in /boot/loader/entries. Every file path is under a root
// directory (a chroot or a test's tree); commands are argv lists run by a Runner.
package crashkernel

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Reservation is the capture kernel's memory as the running system has it.
type Reservation struct {
	// Option is the crashkernel= value of /proc/cmdline ("" when there is none; the
	// last one counts, as for the kernel).
	Option string
	// Reserved is /sys/kernel/kexec_crash_size: the bytes actually reserved (0: none).
	Reserved int64
	// Memory is MemTotal of /proc/meminfo, in bytes.
	Memory int64
}

// Current reads the reservation of the system whose root is root.
func Current(root string) (*Reservation, error) {
	r := &Reservation{}
	cmdline, err := os.ReadFile(filepath.Join(root, "proc/cmdline"))
	if err != nil {
		return nil, err
	}
	r.Option = Option(string(cmdline))
	if b, err := os.ReadFile(filepath.Join(root, "sys/kernel/kexec_crash_size")); err == nil {
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a size", filepath.Join(root, "sys/kernel/kexec_crash_size"), strings.TrimSpace(string(b)))
		}
		r.Reserved = n
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(root, "proc/meminfo")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "MemTotal:" && f[2] == "kB" {
				kb, err := strconv.ParseInt(f[1], 10, 64)
				if err == nil {
					r.Memory = kb << 10
				}
			}
		}
	}
	return r, nil
}

// Option returns the value of the last crashkernel= word of a kernel command line
// ("" when there is none).
func Option(cmdline string) string {
	v := ""
	for _, w := range strings.Fields(cmdline) {
		if s, ok := strings.CutPrefix(w, "crashkernel="); ok {
			v = s
		}
	}
	return v
}

// MinMemory is the smallest machine Recommend reserves memory on: below it the
// reservation would take a quarter of the memory or more.
const MinMemory = 1 << 30

// Recommend returns the crashkernel= value for a capture needing size bytes whatever
// the machine's memory (gokdump crashkernel --size), in the kernel's range form so
// that one command line fits every memory size: "1G-:SIZE", nothing on machines
// below MinMemory. RecommendRanges is the recommendation that grows with the memory.
func Recommend(size int64) string {
	return "1G-:" + formatSize(size)
}

// RangeBounds are the memory sizes where RecommendRanges starts a new range (the
// first is MinMemory).
var RangeBounds = []int64{MinMemory, 4 << 30, 16 << 30, 64 << 30, 256 << 30, 1 << 40}

// openRangeMemory is the memory the last, open range of RecommendRanges is sized
// for: machines above 1 TiB are sized as one of 4 TiB.
const openRangeMemory = 4 << 40

// RecommendRanges returns a crashkernel= value whose size follows the machine's
// memory, from sizeAt (service's Estimate.For: the reservation a machine of mem bytes
// needs): one range per RangeBounds step, each sized for the largest machine in it
// (the open range above 1 TiB for a 4 TiB machine), neighbours of equal size merged,
// e.g. "1G-16G:176M,16G-64G:192M,64G-256G:288M,...". Machines below MinMemory get
// no reservation.
func RecommendRanges(sizeAt func(mem int64) int64) string {
	type rng struct{ lo, hi, size int64 } // hi 0: open
	var rs []rng
	for i, lo := range RangeBounds {
		hi, at := int64(0), int64(openRangeMemory)
		if i+1 < len(RangeBounds) {
			hi, at = RangeBounds[i+1], RangeBounds[i+1]
		}
		size := roundUpMiB(sizeAt(at))
		if n := len(rs); n > 0 && rs[n-1].size == size {
			rs[n-1].hi = hi
			continue
		}
		rs = append(rs, rng{lo, hi, size})
	}
	var parts []string
	for _, r := range rs {
		hi := ""
		if r.hi != 0 {
			hi = formatSize(r.hi)
		}
		parts = append(parts, formatSize(r.lo)+"-"+hi+":"+formatSize(r.size))
	}
	return strings.Join(parts, ",")
}

func roundUpMiB(n int64) int64 { return (n + 1<<20 - 1) >> 20 << 20 }

// SizeFor is what the range value opt (as Recommend writes it, or any crashkernel=
// value: "256M", "1G-4G:192M,4G-:256M") reserves on a machine with mem bytes of
// memory; ok is false when it reserves nothing there or opt is not understood.
func SizeFor(opt string, mem int64) (size int64, ok bool) {
	opt, _, _ = strings.Cut(opt, "@")
	opt, _, _ = strings.Cut(opt, ",high")
	if !strings.Contains(opt, ":") {
		n, err := parseSize(opt)
		return n, err == nil
	}
	for _, r := range strings.Split(opt, ",") {
		rng, sz, found := strings.Cut(r, ":")
		if !found {
			return 0, false
		}
		lo, hi, _ := strings.Cut(rng, "-")
		l, err := parseSize(lo)
		if err != nil {
			return 0, false
		}
		h := int64(1) << 62
		if hi != "" {
			if h, err = parseSize(hi); err != nil {
				return 0, false
			}
		}
		if mem >= l && mem < h {
			n, err := parseSize(sz)
			return n, err == nil
		}
	}
	return 0, false
}

func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty size")
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'K', 'k':
		mult = 1 << 10
	case 'M', 'm':
		mult = 1 << 20
	case 'G', 'g':
		mult = 1 << 30
	case 'T', 't':
		mult = 1 << 40
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func formatSize(n int64) string {
	switch {
	case n > 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "G"
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "M"
	}
	return strconv.FormatInt((n+(1<<20)-1)>>20, 10) + "M"
}

// ValidOption reports whether opt is a crashkernel= value Apply writes: sizes, ranges,
// an @offset, ",high" or ",low", and nothing a shell or a boot loader would read
// otherwise.
func ValidOption(opt string) bool {
	if opt == "" {
		return false
	}
	for _, c := range opt {
		if !(c >= '0' && c <= '9' || strings.ContainsRune("KMGTkmgt-:,@abcdefghijklmnopqrstuvwxyz", c)) {
			return false
		}
	}
	return true
}

// Runner runs a command given as an argv list and returns its combined output.
type Runner func(argv []string) ([]byte, error)

// Exec runs argv with os/exec.
func Exec(argv []string) ([]byte, error) {
	return exec.Command(argv[0], argv[1:]...).CombinedOutput()
}

// Change is one thing Apply did: a file written or a command run.
type Change struct {
	File    string   // the file written (its path on the system, without root)
	Command []string // or the command run
	Output  string   // the command's output
}

func (c Change) String() string {
	if c.File != "" {
		return "wrote " + c.File
	}
	return "ran " + strings.Join(c.Command, " ")
}

// Boot loader configurations Apply knows.
const (
	// GRUBDropIn is the file Apply writes on Debian and Ubuntu; update-grub reads the
	// /etc/default/grub.d/*.cfg files after /etc/default/grub, as kdump-tools' own
	// drop-in is read.
	GRUBDropIn = "/etc/default/grub.d/gokdump-crashkernel.cfg"
	// BLSEntries are the Boot Loader Specification entries of Fedora and RHEL.
	BLSEntries = "/boot/loader/entries"
)

// ErrNoBootLoader is returned when Apply finds no boot loader configuration it knows.
var ErrNoBootLoader = errors.New("crashkernel: no boot loader configuration found: neither /etc/default/grub (Debian, Ubuntu) nor grubby or /boot/loader/entries (Fedora, RHEL)")

// Apply makes opt the crashkernel= value of every kernel the boot loader of the system
// under root starts, from the next boot on, and returns what it changed:
//
//   - /etc/default/grub present and no BLS entries (Debian, Ubuntu): GRUBDropIn, which
//     removes any crashkernel= from GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT
//     and appends opt to the latter, then update-grub;
//   - grubby installed (Fedora, RHEL): grubby --update-kernel=ALL --args=crashkernel=opt
//     (grubby replaces an existing crashkernel=);
//   - else BLS entries: the options line of each entry, its crashkernel= replaced or
//     opt appended.
//
// Commands are looked up under root and run through run with their path inside root
// (run may chroot); with root "/" they are the system's.
func Apply(root, opt string, run Runner) ([]Change, error) {
	if !ValidOption(opt) {
		return nil, fmt.Errorf("crashkernel: %q is not a crashkernel= value", opt)
	}
	entries, _ := filepath.Glob(filepath.Join(root, BLSEntries, "*.conf"))
	grubby := findCommand(root, "grubby")
	if _, err := os.Stat(filepath.Join(root, "etc/default/grub")); err == nil && len(entries) == 0 && grubby == "" {
		return applyGRUB(root, opt, run)
	}
	if grubby != "" {
		argv := []string{grubby, "--update-kernel=ALL", "--args=crashkernel=" + opt}
		out, err := run(argv)
		ch := []Change{{Command: argv, Output: string(out)}}
		if err != nil {
			return ch, fmt.Errorf("crashkernel: %s: %v\n%s", strings.Join(argv, " "), err, out)
		}
		return ch, nil
	}
	if len(entries) > 0 {
		return applyBLS(root, opt, entries)
	}
	return nil, ErrNoBootLoader
}

// findCommand returns the path (inside root) of the first of name in the usual
// directories that exists under root, or "".
func findCommand(root, name string) string {
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if fi, err := os.Stat(filepath.Join(root, d, name)); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return d + "/" + name
		}
	}
	return ""
}

func applyGRUB(root, opt string, run Runner) ([]Change, error) {
	text := "# Written by \"gokdump crashkernel --apply\": the memory reserved for the capture\n" +
		"# kernel. update-grub reads this file after /etc/default/grub.\n" +
		"GRUB_CMDLINE_LINUX=\"$(echo \"$GRUB_CMDLINE_LINUX\" | sed -E 's/(^| )crashkernel=[^ ]*//g')\"\n" +
		"GRUB_CMDLINE_LINUX_DEFAULT=\"$(echo \"$GRUB_CMDLINE_LINUX_DEFAULT\" | sed -E 's/(^| )crashkernel=[^ ]*//g') crashkernel=" + opt + "\"\n"
	path := filepath.Join(root, GRUBDropIn)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := writeFile(path, []byte(text), 0o644); err != nil {
		return nil, err
	}
	changes := []Change{{File: GRUBDropIn}}
	upd := findCommand(root, "update-grub")
	if upd == "" {
		return changes, fmt.Errorf("crashkernel: wrote %s but update-grub is not installed: run grub-mkconfig -o /boot/grub/grub.cfg", GRUBDropIn)
	}
	out, err := run([]string{upd})
	changes = append(changes, Change{Command: []string{upd}, Output: string(out)})
	if err != nil {
		return changes, fmt.Errorf("crashkernel: %s: %v\n%s", upd, err, out)
	}
	return changes, nil
}

func applyBLS(root, opt string, entries []string) ([]Change, error) {
	slices.Sort(entries)
	var changes []Change
	for _, e := range entries {
		b, err := os.ReadFile(e)
		if err != nil {
			return changes, err
		}
		lines := bytes.Split(b, []byte("\n"))
		found := false
		for i, l := range lines {
			f := strings.Fields(string(l))
			if len(f) == 0 || f[0] != "options" {
				continue
			}
			found = true
			words := []string{"options"}
			for _, w := range f[1:] {
				if !strings.HasPrefix(w, "crashkernel=") {
					words = append(words, w)
				}
			}
			lines[i] = []byte(strings.Join(append(words, "crashkernel="+opt), " "))
		}
		if !found {
			lines = append(lines[:len(lines)-1], []byte("options crashkernel="+opt), lines[len(lines)-1])
		}
		fi, _ := os.Stat(e)
		if err := writeFile(e, bytes.Join(lines, []byte("\n")), fi.Mode().Perm()); err != nil {
			return changes, err
		}
		rel, _ := filepath.Rel(root, e)
		changes = append(changes, Change{File: "/" + rel})
	}
	return changes, nil
}

// writeFile replaces path with data atomically (a temporary file renamed over it).
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".gokdump-new"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// ParseSize reads a size as crashkernel= writes it: a number of bytes with an
// optional K, M, G or T suffix.
func ParseSize(s string) (int64, error) { return parseSize(s) }
