package lab

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Range is a half-open physical address range [Start, End).
type Range struct {
	Start, End uint64
}

func (r Range) String() string { return fmt.Sprintf("[%#x-%#x)", r.Start, r.End) }

// Size is the number of bytes in r.
func (r Range) Size() uint64 { return r.End - r.Start }

// IomemEntry is one line of /proc/iomem.
type IomemEntry struct {
	Range
	Name  string
	Depth int // nesting level: 0 for top-level resources, 1 for their children, ...
}

// maxIomemLines bounds the parse; real machines have a few hundred lines.
const maxIomemLines = 100000

// ParseIomem reads /proc/iomem's text: "start-end : name" lines, each nesting level
// indented by two more spaces, addresses in hex, end inclusive. name names the source in
// errors.
func ParseIomem(r io.Reader, name string) ([]IomemEntry, error) {
	var out []IomemEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for n := 1; sc.Scan(); n++ {
		if n > maxIomemLines {
			return nil, fmt.Errorf("%s: more than %d lines", name, maxIomemLines)
		}
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		addrs, res, ok := strings.Cut(strings.TrimSpace(line), " : ")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want \"start-end : name\", got %q", name, n, line)
		}
		lo, hi, ok := strings.Cut(addrs, "-")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want \"start-end\", got %q", name, n, addrs)
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		last, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || last < start || last == ^uint64(0) {
			return nil, fmt.Errorf("%s:%d: bad address range %q", name, n, addrs)
		}
		out = append(out, IomemEntry{Range: Range{start, last + 1}, Name: res, Depth: indent / 2})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// SystemRAM returns the top-level "System RAM" ranges in address order.
func SystemRAM(entries []IomemEntry) []Range {
	var out []Range
	for _, e := range entries {
		if e.Depth == 0 && e.Name == "System RAM" {
			out = append(out, e.Range)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// Find returns the first entry named name at any depth.
func Find(entries []IomemEntry, name string) (Range, bool) {
	for _, e := range entries {
		if e.Name == name {
			return e.Range, true
		}
	}
	return Range{}, false
}

// Subtract returns the parts of ranges (sorted, disjoint) not covered by cut.
func Subtract(ranges []Range, cut Range) []Range {
	var out []Range
	for _, r := range ranges {
		if cut.End <= r.Start || cut.Start >= r.End || cut.Size() == 0 {
			out = append(out, r)
			continue
		}
		if r.Start < cut.Start {
			out = append(out, Range{r.Start, cut.Start})
		}
		if cut.End < r.End {
			out = append(out, Range{cut.End, r.End})
		}
	}
	return out
}
