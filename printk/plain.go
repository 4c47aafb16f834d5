package printk

import (
	"bytes"
	"fmt"
)

// The character ring of kernels before 3.5 (kernel/printk.c): log_buf points to
// log_buf_len bytes of text written round and round; log_end counts every character ever
// written, so the newest is at (log_end-1) % log_buf_len and the ring holds the last
// min(log_end, log_buf_len) characters. Lines carry their own "<level>" prefix and, with
// CONFIG_PRINTK_TIME, a "[seconds.micros] " stamp, as text.

// plainChunk bounds each read of the ring, so a damaged log_buf_len costs reads that
// fail, not a huge allocation up front.
const plainChunk = 1 << 20

func readPlain(r *reader, info Info) (*Log, error) {
	n := &need{info: info}
	bufSym := n.symbol("log_buf")
	lenSym := n.symbol("log_buf_len")
	endSym := n.symbol("log_end")
	if err := n.err(Plain); err != nil {
		return nil, err
	}
	buf, err := r.u64(bufSym, "the pointer log_buf")
	if err != nil {
		return nil, err
	}
	bufLen32, err := r.u32(lenSym, "log_buf_len")
	if err != nil {
		return nil, err
	}
	end32, err := r.u32(endSym, "log_end")
	if err != nil {
		return nil, err
	}
	bufLen, end := uint64(bufLen32), uint64(end32)
	if bufLen == 0 || bufLen > maxLogBufLen || buf+bufLen < buf {
		return nil, &FormatError{Addr: lenSym, Msg: fmt.Sprintf("log_buf_len %d is not a plausible buffer size", bufLen)}
	}
	logged := min(end, bufLen)
	log := &Log{Layout: Plain}
	for done := uint64(0); done < logged; {
		pos := (end - logged + done) % bufLen
		chunk := min(logged-done, bufLen-pos, plainChunk)
		b := make([]byte, chunk)
		if err := r.read(b, buf+pos, fmt.Sprintf("log_buf at index 0x%x", pos)); err != nil {
			log.Records = plainRecords(log.raw)
			return log, err
		}
		log.raw = append(log.raw, b...)
		done += chunk
	}
	log.Records = plainRecords(log.raw)
	return log, nil
}

// plainRecords splits the text of a character ring into its lines. The oldest line is
// usually cut by the ring's wrap; it is kept as it is.
func plainRecords(raw []byte) []Record {
	var recs []Record
	for line := range bytes.SplitSeq(raw, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		rec := Record{Seq: uint64(len(recs)), Level: -1, Facility: -1}
		// "<N>": N is facility<<3 | level, as in syslog(3) priorities.
		if len(line) >= 3 && line[0] == '<' {
			if end := bytes.IndexByte(line[:min(len(line), 5)], '>'); end > 1 {
				if pri, ok := decimal(line[1:end]); ok && pri < 8*24 {
					rec.Level, rec.Facility = int(pri&7), int(pri>>3)
					line = line[end+1:]
				}
			}
		}
		if ts, rest, ok := stampPrefix(line); ok {
			rec.TimestampNs = ts
			line = rest
		}
		rec.Text = string(line)
		recs = append(recs, rec)
	}
	return recs
}

// stampPrefix parses the "[%5lu.%06lu] " stamp CONFIG_PRINTK_TIME puts before a line.
func stampPrefix(line []byte) (ns uint64, rest []byte, ok bool) {
	if len(line) == 0 || line[0] != '[' {
		return 0, line, false
	}
	closing := bytes.Index(line, []byte("] "))
	if closing < 0 || closing > 24 {
		return 0, line, false
	}
	sec, usec, found := bytes.Cut(bytes.TrimLeft(line[1:closing], " "), []byte{'.'})
	s, ok1 := decimal(sec)
	u, ok2 := decimal(usec)
	if !found || !ok1 || !ok2 || len(usec) != 6 || s > 1<<33 {
		return 0, line, false
	}
	return s*1e9 + u*1e3, line[closing+2:], true
}

// decimal parses up to 18 ASCII digits.
func decimal(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}
