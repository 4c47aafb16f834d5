package reservation

import "fmt"

// Search is the bisection of one guest size between a reservation assumed (or seen)
// to fail and one assumed (or seen) to save, at a granularity. The minimum is OK once
// OK - Fail <= Step and OK was seen to save; a bound only assumed is marked so.
type Search struct {
	MemoryMiB int
	// Fail is the largest reservation known (FailSeen) or assumed to fail; OK the
	// smallest known (OKSeen) or assumed to save.
	Fail, OK         int
	FailSeen, OKSeen bool
	Step             int // granularity in MiB
	MaxTrials        int // 0: no limit
	Trials           []Trial
}

// Next returns the reservation of the next trial, or done when the search is over:
// the bracket is one step wide with both bounds seen, or the trials are used up.
func (s *Search) Next() (mib int, done bool) {
	if s.MaxTrials > 0 && len(s.Trials) >= s.MaxTrials {
		return 0, true
	}
	if s.OK-s.Fail <= s.Step {
		switch {
		case !s.OKSeen:
			return s.OK, false // verify the assumed upper bound
		case !s.FailSeen && s.Fail > 0:
			return s.Fail, false // and the assumed lower one
		}
		return 0, true
	}
	mid := s.Fail + (s.OK-s.Fail)/2
	mid -= mid % s.Step
	if mid <= s.Fail {
		mid = s.Fail + s.Step
	}
	if mid >= s.OK {
		mid = s.OK - s.Step
	}
	return mid, false
}

// Record narrows the bracket with a trial's result. A failure above an OK seen (a
// flaky capture) or a success below a failure seen is kept in Trials and moves the
// bound anyway, so the search ends; Report shows the contradiction.
func (s *Search) Record(t Trial) {
	s.Trials = append(s.Trials, t)
	if t.Saved {
		if t.CrashKernelMiB <= s.OK || !s.OKSeen {
			s.OK, s.OKSeen = t.CrashKernelMiB, true
		}
		if s.Fail >= s.OK {
			s.Fail, s.FailSeen = s.OK-s.Step, false
		}
		return
	}
	if t.CrashKernelMiB >= s.Fail || !s.FailSeen {
		s.Fail, s.FailSeen = t.CrashKernelMiB, true
	}
	if s.OK <= s.Fail {
		// Everything up to the assumed upper bound failed: look higher.
		s.OK, s.OKSeen = s.Fail+2*s.Step, false
	}
}

// Minimum is the smallest reservation seen to save and whether it is known to the
// granularity (the largest failing one is one step below it and was seen).
func (s *Search) Minimum() (mib int, exact bool, ok bool) {
	if !s.OKSeen {
		return 0, false, false
	}
	return s.OK, s.FailSeen && s.OK-s.Fail <= s.Step, true
}

// String is the search's result in words.
func (s *Search) String() string {
	m, exact, ok := s.Minimum()
	switch {
	case !ok:
		return fmt.Sprintf("no saving reservation found up to %d MiB", s.OK-1)
	case exact:
		return fmt.Sprintf("%d MiB (%d MiB fails)", m, s.Fail)
	case s.FailSeen:
		return fmt.Sprintf("at most %d MiB (%d MiB fails; not bisected further)", m, s.Fail)
	default:
		return fmt.Sprintf("at most %d MiB (nothing smaller tried)", m)
	}
}
