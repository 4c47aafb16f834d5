package prefix

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMinimumRedundancy: the lengths make a complete prefix code (Kraft sum 1), the
// rarer symbols never get shorter codes, and the total cost is the optimum's, which a
// plain Huffman merge of the same frequencies computes.
func TestMinimumRedundancy(t *testing.T) {
	if a := []int{1, 1, 2, 4}; func() bool { MinimumRedundancy(a); return !slices.Equal(a, []int{3, 3, 2, 1}) }() {
		t.Errorf("lengths of 1 1 2 4: %v, want 3 3 2 1", a)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := 2; n < 300; n += 7 {
		freq := make([]int, n)
		for i := range freq {
			freq[i] = 1 + r.IntN(1000)
		}
		slices.Sort(freq)
		a := slices.Clone(freq)
		MinimumRedundancy(a)
		kraft, cost := 0.0, 0
		for i, l := range a {
			kraft += 1 / float64(uint64(1)<<l)
			cost += l * freq[i]
			if i > 0 && a[i] > a[i-1] {
				t.Fatalf("n=%d: length %d after %d for a more frequent symbol", n, a[i], a[i-1])
			}
		}
		if kraft != 1 || cost != huffmanCost(freq) {
			t.Fatalf("n=%d: Kraft sum %v, cost %d, want 1 and %d", n, kraft, cost, huffmanCost(freq))
		}
	}
}

// huffmanCost is the cost of an optimal code: the sum of the merged weights.
func huffmanCost(freq []int) int {
	w := slices.Clone(freq)
	cost := 0
	for len(w) > 1 {
		slices.Sort(w)
		m := w[0] + w[1]
		cost += m
		w = append(w[2:], m)
	}
	return cost
}
