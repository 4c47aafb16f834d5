package lab

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gokdump/gokdump/lab/plan"
)

// extractTar copies the members of the tar archive at the start of the raw disk image
// img into dir. Only the names in limits are accepted, each up to its size limit; the
// archive ends at tar's end marker or at the zeros of the unwritten rest of the disk.
func extractTar(img, dir string, limits map[string]int64) (map[string]string, error) {
	f, err := os.Open(img)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(bufio.NewReaderSize(f, 1<<20))
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, fmt.Errorf("lab: %s: reading the guest's tar archive: %w", img, err)
		}
		limit, ok := limits[h.Name]
		if !ok || h.Typeflag != tar.TypeReg {
			return got, fmt.Errorf("lab: %s: unexpected member %q (type %q) in the guest's archive", img, h.Name, h.Typeflag)
		}
		if h.Size > limit {
			return got, fmt.Errorf("lab: %s: member %q is %d bytes, more than the %d expected", img, h.Name, h.Size, limit)
		}
		dst := filepath.Join(dir, h.Name)
		out, err := os.Create(dst)
		if err != nil {
			return got, fmt.Errorf("lab: %w", err)
		}
		n, err := io.CopyBuffer(out, tr, make([]byte, 1<<20))
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return got, fmt.Errorf("lab: %s: member %q: %w", img, h.Name, err)
		}
		if n != h.Size {
			return got, fmt.Errorf("lab: %s: member %q: %d of %d bytes", img, h.Name, n, h.Size)
		}
		got[h.Name] = dst
	}
}

// Facts is what the first kernel told about itself before it crashed.
type Facts struct {
	Release string // uname -r
	Version string // uname -v
	Machine string // uname -m
	CPUs    int    // online CPUs
	Cmdline string // the first kernel's /proc/cmdline

	SystemRAM   []Range // top-level "System RAM" ranges of /proc/iomem
	CrashKernel Range   // the "Crash kernel" reservation
	MemTotalKiB uint64  // MemTotal of /proc/meminfo

	// Dir holds the raw files (plan.Facts* names); Kallsyms is the guest's
	// /proc/kallsyms there, addresses relocated as the running kernel saw them.
	Dir      string
	Kallsyms string
}

// factsLimits are the members of the facts archive and their largest plausible sizes.
var factsLimits = map[string]int64{
	plan.FactsUname:    64 << 10,
	plan.FactsCmdline:  64 << 10,
	plan.FactsIomem:    1 << 20,
	plan.FactsMeminfo:  64 << 10,
	plan.FactsKallsyms: 128 << 20,
	plan.FactsDmesg:    16 << 20,
	plan.FactsCPUs:     4 << 10,
}

// readFacts extracts the facts archive from the facts disk into dir and parses it.
func readFacts(img, dir string) (*Facts, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	files, err := extractTar(img, dir, factsLimits)
	if err != nil {
		return nil, err
	}
	for _, need := range []string{plan.FactsUname, plan.FactsCmdline, plan.FactsIomem, plan.FactsMeminfo, plan.FactsKallsyms, plan.FactsCPUs} {
		if files[need] == "" {
			return nil, fmt.Errorf("lab: %s: the facts archive has no %q", img, need)
		}
	}
	fa := &Facts{Dir: dir, Kallsyms: files[plan.FactsKallsyms]}
	read := func(name string) []byte {
		data, rerr := os.ReadFile(files[name])
		if rerr != nil && err == nil {
			err = rerr
		}
		return data
	}
	var u plan.Uname
	if jerr := json.Unmarshal(read(plan.FactsUname), &u); jerr != nil {
		return nil, fmt.Errorf("lab: %s: %w", files[plan.FactsUname], jerr)
	}
	fa.Release, fa.Version, fa.Machine = u.Release, u.Version, u.Machine
	fa.Cmdline = strings.TrimSpace(string(read(plan.FactsCmdline)))
	cpus := read(plan.FactsCPUs)
	iomem := read(plan.FactsIomem)
	meminfo := read(plan.FactsMeminfo)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if fa.CPUs, err = CountCPUList(strings.TrimSpace(string(cpus))); err != nil {
		return nil, fmt.Errorf("lab: %s: %w", files[plan.FactsCPUs], err)
	}
	entries, err := ParseIomem(bytes.NewReader(iomem), files[plan.FactsIomem])
	if err != nil {
		return nil, err
	}
	fa.SystemRAM = SystemRAM(entries)
	var ok bool
	if fa.CrashKernel, ok = Find(entries, "Crash kernel"); !ok {
		return nil, fmt.Errorf("lab: %s: no \"Crash kernel\" range (is crashkernel= on the command line?)", files[plan.FactsIomem])
	}
	if fa.MemTotalKiB, err = memTotal(meminfo); err != nil {
		return nil, fmt.Errorf("lab: %s: %w", files[plan.FactsMeminfo], err)
	}
	return fa, nil
}

// CountCPUList counts the CPUs in a kernel CPU list such as "0-3,5,7-8".
func CountCPUList(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty CPU list")
	}
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0, fmt.Errorf("bad CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("bad CPU list %q", s)
			}
		}
		if b-a >= 1<<20 {
			return 0, fmt.Errorf("CPU list %q: range too large", s)
		}
		n += b - a + 1
	}
	return n, nil
}

// memTotal returns MemTotal in KiB from /proc/meminfo's text.
func memTotal(meminfo []byte) (uint64, error) {
	for _, line := range strings.Split(string(meminfo), "\n") {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("MemTotal line %q: want \"MemTotal: N kB\"", line)
		}
		return strconv.ParseUint(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no MemTotal line")
}
