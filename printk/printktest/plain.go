package printktest

import "fmt"

// Plain is the character ring of kernels before 3.5.
type Plain struct {
	Buf []byte
	End uint32 // log_end: characters ever written
}

// NewPlain returns an empty ring of bufLen bytes.
func NewPlain(bufLen int) *Plain { return &Plain{Buf: make([]byte, bufLen)} }

// Write appends text to the ring, as emit_log_char does one character at a time.
func (p *Plain) Write(text string) {
	for i := 0; i < len(text); i++ {
		p.Buf[p.End%uint32(len(p.Buf))] = text[i]
		p.End++
	}
}

// Image lays the ring out at base: the pointer log_buf at base, log_buf_len at base+8,
// log_end at base+16, logged_chars at base+24, the buffer at base+64.
func (p *Plain) Image(base uint64) ([]byte, []string) {
	img := make([]byte, 64+len(p.Buf))
	le.PutUint64(img[0:], base+64)
	le.PutUint32(img[8:], uint32(len(p.Buf)))
	le.PutUint32(img[16:], p.End)
	le.PutUint32(img[24:], min(p.End, uint32(len(p.Buf))))
	copy(img[64:], p.Buf)
	return img, []string{
		fmt.Sprintf("SYMBOL(log_buf)=%x", base),
		fmt.Sprintf("SYMBOL(log_end)=%x", base+16),
		fmt.Sprintf("SYMBOL(log_buf_len)=%x", base+8),
		fmt.Sprintf("SYMBOL(logged_chars)=%x", base+24),
	}
}
