package lzo

import (
	"fmt"
	"slices"
)

// Decompress appends the decompression of the LZO1X stream src to dst and returns the
// extended buffer. At most maxOut bytes are appended: a stream that would produce more
// fails with a FormatError wrapping ErrOutputLimit. Every length and distance is checked
// against the input, the output decoded so far and maxOut, so corrupt input yields a
// *FormatError naming the input offset, never a panic or an over-read. Copies never
// reach back into the bytes dst held before the call. The stream must end with its end
// marker and nothing after it, as liblzo2's lzo1x_decompress_safe requires for success.
func Decompress(dst, src []byte, maxOut int) ([]byte, error) {
	start := len(dst)
	maxOut = max(maxOut, 0)
	// One extra byte of input yields at most 255 bytes of output, so this bounds the
	// allocation by the input as well as by the caller's limit.
	out := slices.Grow(dst, min(maxOut, 256*len(src)))
	limit := start + maxOut // the largest len(out) allowed

	if len(src) == 0 {
		return dst, &FormatError{Off: 0, Msg: "empty input, expected an LZO1X stream"}
	}
	ip := 0
	// state is the number of literals the previous instruction copied (4 meaning a long
	// run): it decides what an instruction byte below 16 means.
	state := 0
	if src[0] > 17 {
		// The first byte may announce a literal run of src[0]-17 bytes.
		n := int(src[0]) - 17
		ip = 1
		if n > len(src)-ip {
			return dst, truncated(0, "literal run", n, len(src)-ip)
		}
		if n > limit-len(out) {
			return dst, outputLimit(0, maxOut)
		}
		out = append(out, src[ip:ip+n]...)
		ip += n
		state = min(n, 4)
	}
	for {
		if ip >= len(src) {
			return dst, &FormatError{Off: ip, Msg: "unexpected end of input, expected an instruction or the end-of-stream marker"}
		}
		at := ip // offset of the instruction, for errors
		b := int(src[ip])
		ip++
		var distance, length, next int
		var err error
		switch {
		case b >= 64: // 01LDDDSS or 1LLDDDSS HHHHHHHH: 3..8 bytes within 2 KiB
			if ip >= len(src) {
				return dst, truncated(at, "distance byte", 1, 0)
			}
			length = b>>5 + 1
			distance = (b>>2)&7 + int(src[ip])<<3 + 1
			next = b & 3
			ip++
		case b >= 32: // 001LLLLL LE16: within 16 KiB
			length = b & 31
			if length == 0 {
				if length, ip, err = lengthTail(src, ip, 31, at, maxOut); err != nil {
					return dst, err
				}
			}
			length += 2
			if len(src)-ip < 2 {
				return dst, truncated(at, "16-bit distance", 2, len(src)-ip)
			}
			v := int(src[ip]) | int(src[ip+1])<<8
			ip += 2
			distance = v>>2 + 1
			next = v & 3
		case b >= 16: // 0001HLLL LE16: 16 KiB to 48 KiB, or the end of the stream
			length = b & 7
			if length == 0 {
				if length, ip, err = lengthTail(src, ip, 7, at, maxOut); err != nil {
					return dst, err
				}
			}
			length += 2
			if len(src)-ip < 2 {
				return dst, truncated(at, "16-bit distance", 2, len(src)-ip)
			}
			v := int(src[ip]) | int(src[ip+1])<<8
			ip += 2
			distance = m4DistanceMin + (b&8)<<11 + v>>2
			if distance == m4DistanceMin {
				if ip != len(src) {
					return dst, &FormatError{Off: ip, Msg: fmt.Sprintf("%d bytes after the end-of-stream marker, expected none", len(src)-ip)}
				}
				return out, nil
			}
			next = v & 3
		case state == 0: // 0000LLLL: a run of 4 or more literals
			n := b
			if n == 0 {
				if n, ip, err = lengthTail(src, ip, 15, at, maxOut); err != nil {
					return dst, err
				}
			}
			n += 3
			if n > len(src)-ip {
				return dst, truncated(at, "literal run", n, len(src)-ip)
			}
			if n > limit-len(out) {
				return dst, outputLimit(at, maxOut)
			}
			out = append(out, src[ip:ip+n]...)
			ip += n
			state = 4
			continue
		default: // 0000DDSS HHHHHHHH: a short copy right after literals
			if ip >= len(src) {
				return dst, truncated(at, "distance byte", 1, 0)
			}
			distance = b>>2 + int(src[ip])<<2 + 1
			length = 2
			if state == 4 {
				distance += maxM2Distance
				length = 3
			}
			next = b & 3
			ip++
		}

		if distance > len(out)-start {
			return dst, &FormatError{Off: at, Msg: fmt.Sprintf("copy from %d bytes back, but only %d bytes are decoded", distance, len(out)-start)}
		}
		if length > limit-len(out) {
			return dst, outputLimit(at, maxOut)
		}
		// Copy in pieces no longer than what is already there: when the copy overlaps
		// its own output the pattern repeats with period distance, and every piece
		// doubles the bytes available to the next.
		from := len(out) - distance
		for length > 0 {
			k := min(length, len(out)-from)
			out = append(out, out[from:from+k]...)
			length -= k
		}

		if next > 0 {
			if next > len(src)-ip {
				return dst, truncated(at, "trailing literals", next, len(src)-ip)
			}
			if next > limit-len(out) {
				return dst, outputLimit(at, maxOut)
			}
			out = append(out, src[ip:ip+next]...)
			ip += next
		}
		state = next
	}
}

// lengthTail reads the rest of an extended length starting at src[ip]: 255 for each zero
// byte plus the first non-zero byte, added to base. It stops as soon as the length
// passes limit, so a long run of zeros costs no more than reading it.
func lengthTail(src []byte, ip, base, at, limit int) (int, int, error) {
	n := base
	for ip < len(src) && src[ip] == 0 {
		n += 255
		ip++
		if n > limit {
			return 0, ip, outputLimit(at, limit)
		}
	}
	if ip >= len(src) {
		return 0, ip, truncated(at, "extended length", 1, 0)
	}
	n += int(src[ip])
	return n, ip + 1, nil
}

func truncated(at int, what string, need, have int) error {
	return &FormatError{Off: at, Msg: fmt.Sprintf("truncated input: %s needs %d bytes, %d left", what, need, have)}
}

func outputLimit(at, maxOut int) error {
	return &FormatError{Off: at, Msg: fmt.Sprintf("output would exceed the limit of %d bytes", maxOut), Err: ErrOutputLimit}
}
