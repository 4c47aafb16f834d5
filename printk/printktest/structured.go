package printktest

import "fmt"

// Structured is the log buffer of kernels 3.5 to 5.9: struct printk_log records back to
// back in log_buf, written as log_store and log_make_free_space do on x86_64 (where the
// structure is __packed __aligned(4): 16 bytes, 20 with CONFIG_PRINTK_CALLER, and
// records are padded to 4 bytes).
type Structured struct {
	Buf      []byte
	FirstIdx uint32
	NextIdx  uint32
	Caller   bool // CONFIG_PRINTK_CALLER: a caller_id field, exported in VMCOREINFO
	OldName  bool // export as "log" (3.5-3.10) instead of "printk_log"
	firstSeq uint64
	nextSeq  uint64
}

// NewStructured returns an empty log_buf of bufLen bytes.
func NewStructured(bufLen int, caller bool) *Structured {
	return &Structured{Buf: make([]byte, bufLen), Caller: caller}
}

// HeaderSize is sizeof(struct printk_log).
func (s *Structured) HeaderSize() uint32 {
	if s.Caller {
		return 20
	}
	return 16
}

// next is log_next: the index after the record at idx, through a wrap marker.
func (s *Structured) next(idx uint32) uint32 {
	if n := le.Uint16(s.Buf[idx+8:]); n != 0 {
		return idx + uint32(n)
	}
	return uint32(le.Uint16(s.Buf[8:]))
}

func (s *Structured) hasSpace(size uint32, empty bool) bool {
	var free uint32
	if s.NextIdx > s.FirstIdx || empty {
		free = max(uint32(len(s.Buf))-s.NextIdx, s.FirstIdx)
	} else {
		free = s.FirstIdx - s.NextIdx
	}
	return free >= size+s.HeaderSize() // room for the record and a wrap marker
}

// Add stores m, dropping the oldest records to make room. The dictionary holds
// SUBSYSTEM= and DEVICE= when m has them.
func (s *Structured) Add(m Message) error {
	var dict []byte
	if m.Subsystem != "" {
		dict = append(dict, "SUBSYSTEM="+m.Subsystem...)
	}
	if m.Device != "" {
		if len(dict) > 0 {
			dict = append(dict, 0)
		}
		dict = append(dict, "DEVICE="+m.Device...)
	}
	hdr := s.HeaderSize()
	size := uint32(align(uint64(hdr)+uint64(len(m.Text))+uint64(len(dict)), 4))
	for s.firstSeq < s.nextSeq && !s.hasSpace(size, false) {
		s.FirstIdx = s.next(s.FirstIdx)
		s.firstSeq++
	}
	if !s.hasSpace(size, s.firstSeq == s.nextSeq) {
		return fmt.Errorf("printktest: a %d-byte record does not fit a %d-byte log_buf", size, len(s.Buf))
	}
	if s.NextIdx+size+hdr > uint32(len(s.Buf)) {
		clear(s.Buf[s.NextIdx : s.NextIdx+hdr]) // the wrap marker
		s.NextIdx = 0
	}
	r := s.Buf[s.NextIdx : s.NextIdx+size]
	clear(r)
	le.PutUint64(r[0:], m.TimestampNs)
	le.PutUint16(r[8:], uint16(size))
	le.PutUint16(r[10:], uint16(len(m.Text)))
	le.PutUint16(r[12:], uint16(len(dict)))
	r[14] = m.Facility
	r[15] = m.Level << 5
	if s.Caller {
		le.PutUint32(r[16:], m.CallerID)
	}
	copy(r[hdr:], m.Text)
	copy(r[hdr+uint32(len(m.Text)):], dict)
	s.NextIdx += size
	s.nextSeq++
	return nil
}

// Image lays the log out at base: the pointer log_buf at base, log_buf_len at base+8,
// log_first_idx at base+16, log_next_idx at base+24, the buffer at base+64. It returns
// the bytes and the VMCOREINFO lines for them.
func (s *Structured) Image(base uint64) ([]byte, []string) {
	img := make([]byte, 64+len(s.Buf))
	le.PutUint64(img[0:], base+64)
	le.PutUint32(img[8:], uint32(len(s.Buf)))
	le.PutUint32(img[16:], s.FirstIdx)
	le.PutUint32(img[24:], s.NextIdx)
	copy(img[64:], s.Buf)
	name := "printk_log"
	if s.OldName {
		name = "log"
	}
	lines := []string{
		fmt.Sprintf("SYMBOL(log_buf)=%x", base),
		fmt.Sprintf("SYMBOL(log_buf_len)=%x", base+8),
		fmt.Sprintf("SYMBOL(log_first_idx)=%x", base+16),
		fmt.Sprintf("SYMBOL(clear_idx)=%x", base+32),
		fmt.Sprintf("SYMBOL(log_next_idx)=%x", base+24),
		fmt.Sprintf("SIZE(%s)=%d", name, s.HeaderSize()),
		fmt.Sprintf("OFFSET(%s.ts_nsec)=0", name),
		fmt.Sprintf("OFFSET(%s.len)=8", name),
		fmt.Sprintf("OFFSET(%s.text_len)=10", name),
		fmt.Sprintf("OFFSET(%s.dict_len)=12", name),
	}
	if s.Caller {
		lines = append(lines, fmt.Sprintf("OFFSET(%s.caller_id)=16", name))
	}
	return img, lines
}
