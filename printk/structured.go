package printk

import (
	"bytes"
	"fmt"
)

// The variable-length records of kernels 3.5 to 5.9 (kernel/printk/printk.c).
//
// log_buf points to log_buf_len bytes holding records back to back, the oldest at index
// log_first_idx, the next to be written at log_next_idx. Each record is a header
//
//	struct printk_log {            (struct log until 3.11)
//		u64 ts_nsec;
//		u16 len;                    whole record: header, text, dict, padding
//		u16 text_len;
//		u16 dict_len;
//		u8  facility;
//		u8  flags:5, level:3;
//		u32 caller_id;              5.1+ with CONFIG_PRINTK_CALLER
//	}
//
// followed by the text and the dictionary ("KEY=value" strings separated by NULs). When a
// record does not fit before the end of the buffer the kernel zeroes a header there (len
// 0, the wrap marker) and writes the record at index 0; it always leaves room for that
// header, so a record never ends closer than sizeof(header) to the end.

const (
	maxLogBufLen    = 1 << 31 // LOG_BUF_LEN_MAX
	maxPrintkLogLen = 64      // sizeof(struct printk_log) is 16 or 20
)

func readStructured(r *reader, info Info) (*Log, error) {
	n := &need{info: info}
	bufSym := n.symbol("log_buf")
	lenSym := n.symbol("log_buf_len")
	firstSym := n.symbol("log_first_idx")
	nextSym := n.symbol("log_next_idx")
	// 3.5 to 3.10 called the structure "log"; 3.11 renamed it printk_log.
	hdrSize := n.size("printk_log", "log")
	tsOff := n.offset("printk_log.ts_nsec", "log.ts_nsec")
	lenOff := n.offset("printk_log.len", "log.len")
	textLenOff := n.offset("printk_log.text_len", "log.text_len")
	if err := n.err(Structured); err != nil {
		return nil, err
	}
	dictLenOff, hasDict := info.Offset("printk_log.dict_len")
	if !hasDict {
		dictLenOff, hasDict = info.Offset("log.dict_len")
	}
	callerOff, hasCaller := info.Offset("printk_log.caller_id")
	if hdrSize < 12 || hdrSize > maxPrintkLogLen || !fits(tsOff, 8, hdrSize) || !fits(lenOff, 2, hdrSize) ||
		!fits(textLenOff, 2, hdrSize) || (hasDict && !fits(dictLenOff, 2, hdrSize)) || (hasCaller && !fits(callerOff, 4, hdrSize)) {
		return nil, fmt.Errorf("printk: VMCOREINFO's SIZE(printk_log)=%d and its OFFSETs do not describe a plausible record header", hdrSize)
	}
	// Not exported: facility and the flags:5,level:3 byte follow dict_len in every kernel
	// of this layout (ts_nsec 0, len 8, text_len 10, dict_len 12).
	levelKnown := tsOff == 0 && lenOff == 8 && textLenOff == 10 && hdrSize >= 16

	buf, err := r.u64(bufSym, "the pointer log_buf")
	if err != nil {
		return nil, err
	}
	var v [3]uint32
	for i, s := range []struct {
		addr uint64
		what string
	}{{lenSym, "log_buf_len"}, {firstSym, "log_first_idx"}, {nextSym, "log_next_idx"}} {
		if v[i], err = r.u32(s.addr, s.what); err != nil {
			return nil, err
		}
	}
	bufLen, first, next := uint64(v[0]), uint64(v[1]), uint64(v[2])
	if bufLen < hdrSize || bufLen > maxLogBufLen || buf+bufLen < buf {
		return nil, &FormatError{Addr: lenSym, Msg: fmt.Sprintf("log_buf_len %d is not a plausible buffer size", bufLen)}
	}
	last := bufLen - hdrSize // the highest index a header can start at
	if first > last || next > last {
		return nil, &FormatError{Addr: firstSym, Msg: fmt.Sprintf("log_first_idx 0x%x or log_next_idx 0x%x is outside the 0x%x-byte log_buf", first, next, bufLen)}
	}

	log := &Log{Layout: Structured}
	hdr := make([]byte, hdrSize)
	wrapped := false
	// Every step but the one wrap advances by at least a header.
	limit := 2*(bufLen/hdrSize) + 2
	for idx, steps := first, uint64(0); idx != next; steps++ {
		at := buf + idx
		if steps > limit {
			return log, &FormatError{Addr: at, Msg: fmt.Sprintf("records from log_first_idx 0x%x never reach log_next_idx 0x%x", first, next)}
		}
		if err := r.read(hdr, at, fmt.Sprintf("the record header at log_buf index 0x%x", idx)); err != nil {
			return log, err
		}
		rec := Record{Seq: uint64(len(log.Records)), TimestampNs: le64(hdr, tsOff), Level: -1, Facility: -1}
		recLen := uint64(le16(hdr, lenOff))
		textLen := uint64(le16(hdr, textLenOff))
		var dictLen uint64
		if hasDict {
			dictLen = uint64(le16(hdr, dictLenOff))
		}
		if recLen == 0 {
			// The wrap marker. vmcore-dmesg prints it as a record (a zeroed header:
			// "[    0.000000] "); keep it aside so WriteText can do the same.
			if wrapped {
				return log, &FormatError{Addr: at, Msg: fmt.Sprintf("second wrap marker at log_buf index 0x%x: the records loop", idx)}
			}
			m := marker{before: len(log.Records), rec: Record{TimestampNs: rec.TimestampNs}}
			if t := min(textLen, bufLen-idx-hdrSize); t > 0 {
				b := make([]byte, t)
				if err := r.read(b, at+hdrSize, fmt.Sprintf("the wrap marker's text at log_buf index 0x%x", idx)); err != nil {
					return log, err
				}
				m.rec.Text = string(b)
			}
			log.markers = append(log.markers, m)
			idx, wrapped = 0, true
			continue
		}
		if recLen < hdrSize+textLen+dictLen || recLen > last-idx {
			return log, &FormatError{Addr: at, Msg: fmt.Sprintf("record at log_buf index 0x%x has len %d, text_len %d, dict_len %d: not a record of the 0x%x-byte buffer",
				idx, recLen, textLen, dictLen, bufLen)}
		}
		body := make([]byte, textLen+dictLen)
		if err := r.read(body, at+hdrSize, fmt.Sprintf("the text of the record at log_buf index 0x%x", idx)); err != nil {
			return log, err
		}
		rec.Text = string(body[:textLen])
		if levelKnown {
			rec.Facility = int(hdr[14])
			rec.Level = int(hdr[15] >> 5)
		}
		if hasCaller {
			rec.CallerID, rec.HasCaller = le32(hdr, callerOff), true
		}
		for kv := range bytes.SplitSeq(body[textLen:], []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("SUBSYSTEM=")); ok {
				rec.Subsystem = string(v)
			} else if v, ok := bytes.CutPrefix(kv, []byte("DEVICE=")); ok {
				rec.Device = string(v)
			}
		}
		log.Records = append(log.Records, rec)
		idx += recLen
	}
	return log, nil
}
