package printk

import "fmt"

// The lockless ring buffer of kernels 5.10 and later (kernel/printk/printk_ringbuffer.h).
//
// SYMBOL(prb) is a pointer to a struct printk_ringbuffer, which holds two rings:
//
//	desc_ring       count_bits, descs, infos, head_id, tail_id
//	text_data_ring  size_bits, data (and head_lpos, tail_lpos, not needed here)
//
// Descriptor i (struct prb_desc: state_var, text_blk_lpos{begin,next}) and info i
// (struct printk_info: seq, ts_nsec, text_len, facility, flags:5 level:3, caller_id,
// dev_info) describe one record. A record's id is its descriptor index plus the number of
// times the ring wrapped, and state_var holds the id in its low bits and the state in
// its top two: the record is readable when the id matches and the state is committed or
// finalized. Records live from tail_id to head_id inclusive.
//
// Text blocks are addressed by logical positions (lpos): the index in the data ring plus
// wrap counts above size_bits. A block is the owning record's id (an unsigned long)
// followed by the text; a block that would cross the end of the ring is stored whole at
// index 0 instead, its begin still naming the position before the wrap.

// Bounds the kernel itself keeps: log_buf_len is at most LOG_BUF_LEN_MAX (1<<31) bytes and
// the descriptor ring has one descriptor per 2^PRB_AVGBITS (32) bytes of it.
const (
	maxSizeBits   = 31
	maxCountBits  = maxSizeBits - 5
	maxStructSize = 4096 // far above any prb_desc or printk_info (24 and 88 bytes in 6.1)
)

// Descriptor states, the top two bits of state_var (DESC_SV_BITS is the width of an
// unsigned long, 64 on x86_64).
const (
	descStateShift = 62
	descIDMask     = 1<<descStateShift - 1
	descCommitted  = 1 // committed by its writer (could still be reopened for extension)
	descFinalized  = 2 // committed and closed (5.10 added this state with the reopen support)
	idSize         = 8 // sizeof(unsigned long): the id at the head of every text block
)

type locklessLayout struct {
	descRing, textRing                         uint64 // in printk_ringbuffer
	countBits, descs, infos, headID, tailID    uint64 // in prb_desc_ring
	sizeBits, data                             uint64 // in prb_data_ring
	descSize, stateVar, textLpos, begin, next  uint64 // prb_desc, prb_data_blk_lpos
	counter                                    uint64 // atomic_long_t.counter
	infoSize, seq, tsNsec, textLen, callerID   uint64 // printk_info
	levelKnown                                 bool
	devInfo, subsys, subsysLen, device, devLen uint64 // dev_printk_info, when exported
	devKnown                                   bool
}

func locklessKeys(info Info) (*locklessLayout, error) {
	n := &need{info: info}
	l := &locklessLayout{
		descRing:  n.offset("printk_ringbuffer.desc_ring"),
		textRing:  n.offset("printk_ringbuffer.text_data_ring"),
		countBits: n.offset("prb_desc_ring.count_bits"),
		descs:     n.offset("prb_desc_ring.descs"),
		infos:     n.offset("prb_desc_ring.infos"),
		headID:    n.offset("prb_desc_ring.head_id"),
		tailID:    n.offset("prb_desc_ring.tail_id"),
		sizeBits:  n.offset("prb_data_ring.size_bits"),
		data:      n.offset("prb_data_ring.data"),
		descSize:  n.size("prb_desc"),
		stateVar:  n.offset("prb_desc.state_var"),
		textLpos:  n.offset("prb_desc.text_blk_lpos"),
		begin:     n.offset("prb_data_blk_lpos.begin"),
		next:      n.offset("prb_data_blk_lpos.next"),
		counter:   n.offset("atomic_long_t.counter"),
		infoSize:  n.size("printk_info"),
		seq:       n.offset("printk_info.seq"),
		tsNsec:    n.offset("printk_info.ts_nsec"),
		textLen:   n.offset("printk_info.text_len"),
		callerID:  n.offset("printk_info.caller_id"),
	}
	if err := n.err(Lockless); err != nil {
		return nil, err
	}
	if l.descSize > maxStructSize || l.infoSize > maxStructSize {
		return nil, fmt.Errorf("printk: SIZE(prb_desc)=%d or SIZE(printk_info)=%d is not a plausible structure size", l.descSize, l.infoSize)
	}
	for _, f := range []struct {
		name       string
		off, width uint64
		size       uint64
	}{
		{"prb_desc.state_var+atomic_long_t.counter", l.stateVar + l.counter, 8, l.descSize},
		{"prb_desc.text_blk_lpos+prb_data_blk_lpos.begin", l.textLpos + l.begin, 8, l.descSize},
		{"prb_desc.text_blk_lpos+prb_data_blk_lpos.next", l.textLpos + l.next, 8, l.descSize},
		{"printk_info.seq", l.seq, 8, l.infoSize},
		{"printk_info.ts_nsec", l.tsNsec, 8, l.infoSize},
		{"printk_info.text_len", l.textLen, 2, l.infoSize},
		{"printk_info.caller_id", l.callerID, 4, l.infoSize},
	} {
		if f.off > f.size || f.width > f.size-f.off {
			return nil, fmt.Errorf("printk: OFFSET(%s)=%d does not fit a %d-byte structure", f.name, f.off, f.size)
		}
	}
	// VMCOREINFO has no offsets for the bitfields level and flags, nor for facility. Every
	// released kernel with this ring (5.10 on) has text_len at 16 and caller_id at 20 with
	// u8 facility and u8 flags:5,level:3 between them (little-endian bitfields: level is the
	// top three bits). Only with exactly those offsets are the two bytes known to be them.
	l.levelKnown = l.textLen == 16 && l.callerID == 20
	// dev_printk_info (5.10 on): subsystem and device names, exported with their lengths.
	var ok [5]bool
	l.devInfo, ok[0] = info.Offset("printk_info.dev_info")
	l.subsys, ok[1] = info.Offset("dev_printk_info.subsystem")
	l.subsysLen, ok[2] = info.Length("printk_info_subsystem")
	l.device, ok[3] = info.Offset("dev_printk_info.device")
	l.devLen, ok[4] = info.Length("printk_info_device")
	l.devKnown = ok == [5]bool{true, true, true, true, true} &&
		fits(l.devInfo+l.subsys, l.subsysLen, l.infoSize) && fits(l.devInfo+l.device, l.devLen, l.infoSize)
	return l, nil
}

// fits reports whether width bytes at off lie inside a size-byte structure.
func fits(off, width, size uint64) bool { return off <= size && width <= size-off }

func readLockless(r *reader, info Info) (*Log, error) {
	l, err := locklessKeys(info)
	if err != nil {
		return nil, err
	}
	prbSym, _ := info.Symbol("prb")
	rb, err := r.u64(prbSym, "the pointer prb")
	if err != nil {
		return nil, err
	}
	ring := rb + l.descRing
	data := rb + l.textRing
	countBits, err := r.u32(ring+l.countBits, "prb_desc_ring.count_bits")
	if err != nil {
		return nil, err
	}
	sizeBits, err := r.u32(data+l.sizeBits, "prb_data_ring.size_bits")
	if err != nil {
		return nil, err
	}
	if countBits > maxCountBits || sizeBits > maxSizeBits || sizeBits < 4 {
		return nil, &FormatError{Addr: rb, Msg: fmt.Sprintf("ring with 2^%d descriptors and 2^%d bytes of text is not one the kernel makes (at most 2^%d and 2^%d)",
			countBits, sizeBits, maxCountBits, maxSizeBits)}
	}
	count, size := uint64(1)<<countBits, uint64(1)<<sizeBits
	var ptr [3]uint64
	for i, f := range []struct {
		addr      uint64
		what      string
		arraySize uint64
	}{
		{ring + l.descs, "prb_desc_ring.descs", count * l.descSize},
		{ring + l.infos, "prb_desc_ring.infos", count * l.infoSize},
		{data + l.data, "prb_data_ring.data", size},
	} {
		if ptr[i], err = r.u64(f.addr, f.what); err != nil {
			return nil, err
		}
		if ptr[i]+f.arraySize < ptr[i] {
			return nil, &FormatError{Addr: f.addr, Msg: fmt.Sprintf("%s 0x%x: its %d bytes run past the end of the address space", f.what, ptr[i], f.arraySize)}
		}
	}
	descs, infos, text := ptr[0], ptr[1], ptr[2]
	tail, err := r.u64(ring+l.tailID+l.counter, "prb_desc_ring.tail_id")
	if err != nil {
		return nil, err
	}
	head, err := r.u64(ring+l.headID+l.counter, "prb_desc_ring.head_id")
	if err != nil {
		return nil, err
	}
	if head > descIDMask || tail > descIDMask {
		return nil, &FormatError{Addr: ring, Msg: fmt.Sprintf("tail id 0x%x or head id 0x%x has state bits set", tail, head)}
	}
	// The kernel frees the tail descriptor before it reuses its slot, so the ids from tail
	// to head never number more than the descriptors.
	span := (head - tail) & descIDMask
	if span >= count {
		return nil, &FormatError{Addr: ring, Msg: fmt.Sprintf("head id 0x%x is %d records past tail id 0x%x, more than the %d descriptors", head, span, tail, count)}
	}

	log := &Log{Layout: Lockless}
	desc := make([]byte, l.descSize)
	inf := make([]byte, l.infoSize)
	for i := uint64(0); i <= span; i++ {
		id := (tail + i) & descIDMask
		idx := id & (count - 1)
		descAddr := descs + idx*l.descSize
		if err := r.read(desc, descAddr, fmt.Sprintf("descriptor of record id 0x%x", id)); err != nil {
			return log, err
		}
		sv := le64(desc, l.stateVar+l.counter)
		state := sv >> descStateShift
		if sv&descIDMask != id || (state != descCommitted && state != descFinalized) {
			log.Skipped++
			continue
		}
		infoAddr := infos + idx*l.infoSize
		if err := r.read(inf, infoAddr, fmt.Sprintf("printk_info of record id 0x%x", id)); err != nil {
			return log, err
		}
		rec := Record{
			Seq:         le64(inf, l.seq),
			TimestampNs: le64(inf, l.tsNsec),
			CallerID:    le32(inf, l.callerID),
			HasCaller:   true,
			Level:       -1,
			Facility:    -1,
		}
		if l.levelKnown {
			rec.Facility = int(inf[18])
			rec.Level = int(inf[19] >> 5)
		}
		if l.devKnown {
			rec.Subsystem = cString(inf[l.devInfo+l.subsys:][:l.subsysLen])
			rec.Device = cString(inf[l.devInfo+l.device:][:l.devLen])
		}
		begin, next := le64(desc, l.textLpos+l.begin), le64(desc, l.textLpos+l.next)
		blk, dataSize, err := textBlock(begin, next, sizeBits)
		if err != nil {
			return log, &FormatError{Addr: descAddr, Msg: fmt.Sprintf("record id 0x%x (seq %d): %v", id, rec.Seq, err)}
		}
		if dataSize > 0 {
			owner, err := r.u64(text+(begin&(size-1)), fmt.Sprintf("text block of record id 0x%x", id))
			if err != nil {
				return log, err
			}
			if owner != id {
				return log, &FormatError{Addr: text + (begin & (size - 1)), Msg: fmt.Sprintf(
					"record id 0x%x (seq %d): its text block at lpos 0x%x belongs to id 0x%x", id, rec.Seq, begin, owner)}
			}
			// text_len larger than the block happens when a record was truncated; the
			// block's size wins (as for the kernel's own readers).
			n := min(uint64(le16(inf, l.textLen)), dataSize-idSize)
			buf := make([]byte, n)
			if err := r.read(buf, text+blk+idSize, fmt.Sprintf("text of record id 0x%x", id)); err != nil {
				return log, err
			}
			rec.Text = string(buf)
		}
		log.Records = append(log.Records, rec)
	}
	return log, nil
}

// textBlock finds a record's text block from its logical positions: the index in the
// data ring where the block (id, then text) starts, and the block's size with the id.
// A size of 0 is a data-less record (empty text, or text the kernel had no room for).
func textBlock(begin, next uint64, sizeBits uint32) (blk, dataSize uint64, err error) {
	size := uint64(1) << sizeBits
	wraps := func(lpos uint64) uint64 { return lpos >> sizeBits }
	const dataless = 1 // LPOS_DATALESS: NO_LPOS (3) and FAILED_LPOS (1) are odd, blocks are aligned
	switch {
	case begin&dataless != 0 && next&dataless != 0:
		return 0, 0, nil
	case begin%idSize != 0 || next%idSize != 0:
		return 0, 0, fmt.Errorf("text block lpos begin 0x%x next 0x%x is not aligned to %d bytes", begin, next, idSize)
	case wraps(begin) == wraps(next) && begin < next:
		blk, dataSize = begin&(size-1), next-begin
	case wraps(begin+size) == wraps(next) && next&(size-1) == 0:
		// Ends exactly at the end of the ring. Kernels up to at least 6.12 wrap such a
		// block to index 0 instead; a block that did so would have no room for its id,
		// so reading this case as "not wrapped" cannot misread theirs.
		blk, dataSize = begin&(size-1), next-begin
	case wraps(begin+size) == wraps(next):
		blk, dataSize = 0, next&(size-1)
	default:
		return 0, 0, fmt.Errorf("text block lpos begin 0x%x next 0x%x is not a block of the 0x%x-byte data ring", begin, next, size)
	}
	// Aligned positions make every block at least idSize long: the case of a wrapping
	// block with no room for its id is read as a block ending at the ring's end above.
	return blk, dataSize, nil
}
