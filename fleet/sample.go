package fleet

import (
	"context"
	"errors"
	"strings"
)

// ClaimFullDump decides whether crash id's dump goes to the store whole under
// sampling: only the first k crashes of a signature, in id order (which is crash time
// order), keep their dumps; the rest send their record and kernel log. The claim is
// the marker signatures/<signature>/<id>: written, then the markers listed again, and
// withdrawn when k earlier ids hold markers. Uploaders racing on one signature thus
// agree on the earliest crashes instead of each counting the markers before writing
// its own. (Two that each list before the other's marker lands can still both keep
// theirs: at most one more than k per such race.) An id that already holds a marker
// (an earlier, interrupted run) keeps its decision.
func ClaimFullDump(ctx context.Context, st Store, prefix, signature, id string, k int) (bool, error) {
	if k <= 0 || signature == "" || !ValidID(signature) {
		return true, nil
	}
	dir := SignaturePrefix(prefix, signature)
	mine := dir + id
	rank := func() (int, bool, error) {
		stop := errors.New("stop")
		n, ours := 0, false
		err := st.List(ctx, dir, func(oi ObjectInfo) error {
			switch c := strings.Compare(oi.Key, mine); {
			case c == 0:
				ours = true
				return stop
			case c > 0:
				return stop
			}
			if n++; n >= k {
				return stop
			}
			return nil
		})
		if err != nil && !errors.Is(err, stop) && !errors.Is(err, ErrNotExist) {
			return 0, false, err
		}
		return n, ours, nil
	}
	n, ours, err := rank()
	if err != nil {
		return false, err
	}
	if n >= k {
		// k earlier crashes hold the places (some may have arrived after this one
		// claimed its own, which it then gives up: Delete of no marker is no error).
		return false, st.Delete(ctx, mine)
	}
	if ours {
		return true, nil
	}
	if err := st.Put(ctx, mine, strings.NewReader(""), 0); err != nil {
		return false, err
	}
	if n, _, err = rank(); err != nil {
		return false, err
	}
	if n >= k {
		return false, st.Delete(ctx, mine)
	}
	return true, nil
}
