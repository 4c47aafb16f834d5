package collector

import (
	"fmt"
	"io"
	"time"
)

// progress draws makedumpfile's "Copying data" line on a terminal, rewriting it in
// place at most a few times a second. It is used by the writing goroutine only.
type progress struct {
	w           io.Writer
	total, done uint64
	begin, last time.Time
}

func newProgress(w io.Writer) *progress { return &progress{w: w, begin: time.Now()} }

func (p *progress) setTotal(n uint64) { p.total = n }

func (p *progress) add(n uint64) {
	if p.w == nil {
		return
	}
	p.done += n
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond {
		p.last = now
		p.draw(now)
	}
}

func (p *progress) draw(now time.Time) {
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(p.done) / float64(p.total)
	}
	eta := ""
	if p.done > 0 && p.done < p.total {
		el := now.Sub(p.begin)
		left := time.Duration(float64(el) * float64(p.total-p.done) / float64(p.done))
		eta = fmt.Sprintf(" eta: %s", left.Round(time.Second))
	}
	fmt.Fprintf(p.w, "\rCopying data                       : [%5.1f %%]%-14s", pct, eta)
}

func (p *progress) finish(ok bool) {
	if p.w == nil {
		return
	}
	if ok {
		p.done = p.total
	}
	p.draw(time.Now())
	fmt.Fprintln(p.w)
}
