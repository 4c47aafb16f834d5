package ranges

import "sort"

// Range is the addresses [Start, End).
type Range struct{ Start, End uint64 }

// Merge sorts r by Start and merges ranges that overlap or touch. It works in place and
// returns the merged prefix of r.
func Merge(r []Range) []Range {
	sort.Slice(r, func(i, j int) bool { return r[i].Start < r[j].Start })
	out := r[:0]
	for _, x := range r {
		if n := len(out); n > 0 && x.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, x.End)
			continue
		}
		out = append(out, x)
	}
	return out
}
