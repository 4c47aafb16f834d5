package lab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MarkedPages counts the distinct pages of the lab workload found in a dump: pages at
// page-aligned offsets of r that start with marker (plan.MarkerPageCache or
// plan.MarkerAnon) followed by a page number below max. A vmcore (and any dump whose
// page data is page-aligned) holds each page of guest memory at such an offset, so a
// full dump gives max; a dump that filtered those pages out gives 0.
func MarkedPages(r io.Reader, marker string, max int) (int, error) {
	const page = 4096
	if max <= 0 || max > 1<<28 {
		return 0, fmt.Errorf("lab: MarkedPages: max %d out of range", max)
	}
	seen := make([]bool, max)
	distinct := 0
	buf := make([]byte, 256*page)
	m := []byte(marker)
	for {
		n, err := io.ReadFull(r, buf)
		for off := 0; off+len(m)+12 <= n; off += page {
			p := buf[off:min(off+page, n)]
			if !bytes.HasPrefix(p, m) {
				continue
			}
			rest := p[len(m):]
			end := bytes.IndexByte(rest[:min(len(rest), 12)], '\n')
			if end <= 0 {
				continue
			}
			k, perr := strconv.Atoi(string(rest[:end]))
			if perr == nil && k >= 0 && k < max && !seen[k] {
				seen[k] = true
				distinct++
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return distinct, nil
		}
		if err != nil {
			return distinct, err
		}
	}
}
