package printk

import (
	"bufio"
	"io"
	"strconv"
)

// The text form is kexec-tools' vmcore-dmesg output (util_lib/elf_info.c), byte for byte:
//
//   - one line per record: "[%5llu.%06llu] " from ts_nsec (seconds, then the remainder
//     truncated to microseconds), the text, "\n";
//   - bytes that are neither printable nor white space in the C locale (isprint,
//     isspace) are written as "\x%02x"; so tab, newline, vertical tab, form feed and
//     carriage return pass through, and a record's embedded newlines start new lines
//     without a stamp;
//   - the caller id, level and facility are not printed;
//   - a plain character ring (before 3.5) is printed as it is, unescaped.

// AppendText appends r as vmcore-dmesg prints it, with its newline.
func AppendText(dst []byte, r *Record) []byte {
	dst = appendStamp(dst, r.TimestampNs)
	dst = AppendEscaped(dst, r.Text)
	return append(dst, '\n')
}

// AppendEscaped appends text with the bytes vmcore-dmesg escapes written as "\xNN".
func AppendEscaped(dst []byte, text string) []byte {
	const hexDigits = "0123456789abcdef"
	for i := 0; i < len(text); i++ {
		c := text[i]
		if (c >= 0x20 && c <= 0x7e) || (c >= '\t' && c <= '\r') {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

// appendStamp appends "[%5d.%06d] " of ts nanoseconds.
func appendStamp(dst []byte, ts uint64) []byte {
	sec, usec := ts/1e9, ts%1e9/1e3
	dst = append(dst, '[')
	var num [20]byte
	s := strconv.AppendUint(num[:0], sec, 10)
	for i := len(s); i < 5; i++ {
		dst = append(dst, ' ')
	}
	dst = append(dst, s...)
	dst = append(dst, '.')
	u := strconv.AppendUint(num[:0], usec, 10)
	for i := len(u); i < 6; i++ {
		dst = append(dst, '0')
	}
	dst = append(dst, u...)
	return append(dst, ']', ' ')
}

// WriteText writes the log as vmcore-dmesg prints it.
func (l *Log) WriteText(w io.Writer) error {
	if l.Layout == Plain {
		_, err := w.Write(l.raw)
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	m := 0
	for i := 0; i <= len(l.Records); i++ {
		for ; m < len(l.markers) && l.markers[m].before == i; m++ {
			line = AppendText(line[:0], &l.markers[m].rec)
			bw.Write(line)
		}
		if i < len(l.Records) {
			line = AppendText(line[:0], &l.Records[i])
			bw.Write(line)
		}
	}
	return bw.Flush()
}
