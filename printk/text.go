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

// makedumpfile's --dump-dmesg writes the log almost as vmcore-dmesg does; kdump-tools
// saves it with that command, so `gokdump dump --dump-dmesg` must write the same bytes
// (makedumpfile 1.7.2, printk.c and makedumpfile.c):
//   - a newline inside a record is followed by as many spaces as the record's
//     "[%5llu.%06llu] " stamp is wide, so continuation lines line up;
//   - bytes that are neither printable nor white space are written as "\x%02x" of a
//     C char: a byte of 0x80 or more is sign-extended ("\xffffff80");
//   - a record of the lockless ring without a text block is not printed;
//   - the 3.5-5.9 layout's wrap markers are not printed.

// AppendMakedumpfileText appends r as makedumpfile --dump-dmesg prints it.
func AppendMakedumpfileText(dst []byte, r *Record) []byte {
	const hexDigits = "0123456789abcdef"
	start := len(dst)
	dst = appendStamp(dst, r.TimestampNs)
	indent := len(dst) - start
	for i := 0; i < len(r.Text); i++ {
		c := r.Text[i]
		switch {
		case c == '\n':
			dst = append(dst, '\n')
			for range indent {
				dst = append(dst, ' ')
			}
		case (c >= 0x20 && c <= 0x7e) || (c >= '\t' && c <= '\r'):
			dst = append(dst, c)
		case c >= 0x80:
			dst = append(dst, '\\', 'x', 'f', 'f', 'f', 'f', 'f', 'f', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	return append(dst, '\n')
}

// WriteMakedumpfileText writes the log as makedumpfile --dump-dmesg writes it.
func (l *Log) WriteMakedumpfileText(w io.Writer) error {
	if l.Layout == Plain {
		_, err := w.Write(l.raw)
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	for i := range l.Records {
		r := &l.Records[i]
		if l.Layout == Lockless && r.Text == "" {
			continue
		}
		line = AppendMakedumpfileText(line[:0], r)
		bw.Write(line)
	}
	return bw.Flush()
}
