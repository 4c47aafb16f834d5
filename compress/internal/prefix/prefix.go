// Package prefix computes the code lengths of optimal prefix (Huffman) codes: the one
// step the deflate and zstd page encoders share (their length limits and code
// assignments differ, as their formats do).
package prefix

// MinimumRedundancy turns the ascending frequencies in a (two or more) into the
// lengths of an optimal prefix code, in place: Moffat and Katajainen's in-place
// algorithm ("In-place calculation of minimum-redundancy codes", 1995), which needs
// no heap and no tree.
func MinimumRedundancy(a []int) {
	n := len(a)
	// Phase 1: build the tree in a, leaves consumed from the left, internal nodes
	// stored behind them with their weights, then with their parents' indexes.
	a[0] += a[1]
	root, leaf := 0, 2
	for next := 1; next < n-1; next++ {
		if leaf >= n || a[root] < a[leaf] {
			a[next] = a[root]
			a[root] = next
			root++
		} else {
			a[next] = a[leaf]
			leaf++
		}
		if leaf >= n || (root < next && a[root] < a[leaf]) {
			a[next] += a[root]
			a[root] = next
			root++
		} else {
			a[next] += a[leaf]
			leaf++
		}
	}
	// Phase 2: parents' indexes to internal nodes' depths.
	a[n-2] = 0
	for next := n - 3; next >= 0; next-- {
		a[next] = a[a[next]] + 1
	}
	// Phase 3: internal depths to leaf depths, the deepest leaves first in a.
	avail, used, depth := 1, 0, 0
	root, next := n-2, n-1
	for avail > 0 {
		for root >= 0 && a[root] == depth {
			used++
			root--
		}
		for avail > used {
			a[next] = depth
			next--
			avail--
		}
		avail = 2 * used
		depth++
		used = 0
	}
}
