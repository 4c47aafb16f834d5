package printktest

import "fmt"

// Structure layouts of the lockless ring in an x86_64 6.1 kernel, as its VMCOREINFO
// gives them (checked against a Debian 6.1.0 vmcore).
const (
	DescSize = 24 // struct prb_desc: state_var, text_blk_lpos{begin, next}
	InfoSize = 88 // struct printk_info, with its 64-byte dev_printk_info at 24

	ringStructSize = 88 // struct printk_ringbuffer: desc_ring at 0, text_data_ring at 48, fail at 80
	ringAt         = 0x40
	descsAt        = 0x100
)

// Descriptor states and special logical positions (kernel/printk/printk_ringbuffer.h).
const (
	StateReserved  = 0
	StateCommitted = 1
	StateFinalized = 2
	StateReusable  = 3

	FailedLpos = 0x1 // a record whose text found no room
	NoLpos     = 0x3 // a record with no text

	stateShift = 62
	idMask     = 1<<stateShift - 1
)

// StateVar is DESC_SV(id, state).
func StateVar(id, state uint64) uint64 { return state<<stateShift | id&idMask }

// Lockless is a lockless printk ring (5.10+), written as the kernel's prb_reserve,
// data_alloc, data_push_tail and desc_push_tail do.
type Lockless struct {
	CountBits, SizeBits uint
	// Descs, Infos and Data are the three arrays; tests may damage them before Image.
	Descs, Infos, Data []byte
	HeadID, TailID     uint64
	HeadLpos, TailLpos uint64
}

// NewLockless returns an empty ring of 2^countBits descriptors and 2^sizeBits bytes of
// text, initialised as DEFINE_PRINTKRB does.
func NewLockless(countBits, sizeBits uint) *Lockless {
	count, size := uint64(1)<<countBits, uint64(1)<<sizeBits
	r := &Lockless{CountBits: countBits, SizeBits: sizeBits,
		Descs: make([]byte, count*DescSize), Infos: make([]byte, count*InfoSize), Data: make([]byte, size)}
	// DESC0_ID: the last descriptor, with an id that overflows on the second wrap.
	r.HeadID = -(count + 1) & idMask
	r.TailID = r.HeadID
	last := r.desc(r.HeadID)
	le.PutUint64(last[0:], StateVar(r.HeadID, StateReusable))
	le.PutUint64(last[8:], FailedLpos)
	le.PutUint64(last[16:], FailedLpos)
	le.PutUint64(r.info(0)[0:], -count) // incremented to seq 0 by the first reservation
	// BLK0_LPOS: index 0, overflowing on the first wrap.
	r.HeadLpos, r.TailLpos = -size, -size
	return r
}

func (r *Lockless) count() uint64 { return 1 << r.CountBits }
func (r *Lockless) size() uint64  { return 1 << r.SizeBits }

// Desc and Info return the descriptor and the printk_info of id's slot.
func (r *Lockless) Desc(id uint64) []byte { return r.desc(id) }
func (r *Lockless) Info(id uint64) []byte { return r.info(id) }

func (r *Lockless) desc(id uint64) []byte {
	i := id & (r.count() - 1)
	return r.Descs[i*DescSize : (i+1)*DescSize]
}

func (r *Lockless) info(id uint64) []byte {
	i := id & (r.count() - 1)
	return r.Infos[i*InfoSize : (i+1)*InfoSize]
}

func (r *Lockless) wraps(lpos uint64) uint64 { return lpos >> r.SizeBits }
func (r *Lockless) index(lpos uint64) uint64 { return lpos & (r.size() - 1) }

// Add stores m as a finalized record and returns its id.
func (r *Lockless) Add(m Message) (uint64, error) {
	if len(m.Text) > 0 && align(uint64(len(m.Text))+8, 8) > r.size()-8 {
		return 0, fmt.Errorf("printktest: %d bytes of text do not fit a %d-byte ring", len(m.Text), r.size())
	}
	id := (r.HeadID + 1) & idMask
	if (id-r.count())&idMask == r.TailID {
		// The slot is the tail's: free it (desc_push_tail).
		t := r.desc(r.TailID)
		le.PutUint64(t[0:], StateVar(r.TailID, StateReusable))
		if next := le.Uint64(t[16:]); next&1 == 0 {
			r.pushDataTail(next)
		}
		r.TailID = (r.TailID + 1) & idMask
	}
	r.HeadID = id
	d, in := r.desc(id), r.info(id)
	le.PutUint64(d[0:], StateVar(id, StateReserved))
	seq := le.Uint64(in[0:])
	if seq == 0 && id&(r.count()-1) != 0 {
		seq = id & (r.count() - 1) // first use of this slot
	} else {
		seq += r.count()
	}
	clear(in)
	le.PutUint64(in[0:], seq)

	begin, next := uint64(NoLpos), uint64(NoLpos)
	if len(m.Text) > 0 {
		blk := align(uint64(len(m.Text))+8, 8)
		begin = r.HeadLpos
		next = begin + blk
		if r.wraps(begin) != r.wraps(next) {
			next = next&^(r.size()-1) + blk // wrapping blocks are stored whole at index 0
		}
		r.pushDataTail(next - r.size())
		r.HeadLpos = next
		le.PutUint64(r.Data[r.index(begin):], id)
		at := r.index(begin)
		if r.wraps(begin) != r.wraps(next) {
			at = 0
			le.PutUint64(r.Data[0:], id)
		}
		copy(r.Data[at+8:], m.Text)
	}
	le.PutUint64(d[8:], begin)
	le.PutUint64(d[16:], next)
	le.PutUint64(in[8:], m.TimestampNs)
	le.PutUint16(in[16:], uint16(len(m.Text)))
	in[18] = m.Facility
	in[19] = m.Level << 5
	le.PutUint32(in[20:], m.CallerID)
	copy(in[24:24+16], m.Subsystem)
	copy(in[24+16:24+64], m.Device)
	le.PutUint64(d[0:], StateVar(id, StateFinalized))
	return id, nil
}

// pushDataTail frees the oldest text blocks until the tail is at or past lpos,
// making their records reusable first (data_push_tail, data_make_reusable).
func (r *Lockless) pushDataTail(lpos uint64) {
	for int64(lpos-r.TailLpos) > 0 {
		owner := le.Uint64(r.Data[r.index(r.TailLpos):])
		d := r.desc(owner)
		sv := le.Uint64(d[0:])
		if sv&idMask == owner && sv>>stateShift != StateReserved && le.Uint64(d[8:]) == r.TailLpos {
			le.PutUint64(d[0:], StateVar(owner, StateReusable))
			r.TailLpos = le.Uint64(d[16:])
			continue
		}
		// Not a block of a live record: only possible before the ring first filled,
		// when the tail is ahead of all data.
		r.TailLpos = lpos
	}
}

// WrapsData reports whether id's text block is a wrapping one (stored at index 0).
func (r *Lockless) WrapsData(id uint64) bool {
	d := r.desc(id)
	begin, next := le.Uint64(d[8:]), le.Uint64(d[16:])
	return begin&1 == 0 && r.wraps(begin) != r.wraps(next)
}

// SetState overwrites the state of id's descriptor (keeping the id in state_var).
func (r *Lockless) SetState(id, state uint64) {
	le.PutUint64(r.desc(id)[0:], StateVar(id, state))
}

// SetLpos overwrites the text block positions of id's descriptor.
func (r *Lockless) SetLpos(id, begin, next uint64) {
	d := r.desc(id)
	le.PutUint64(d[8:], begin)
	le.PutUint64(d[16:], next)
}

// Image lays the ring out as one block of kernel memory at base: the pointer prb at base,
// the struct printk_ringbuffer it points to at base+0x40, then the descriptors, the infos
// and the text. It returns the bytes and the VMCOREINFO lines of a 6.1 kernel for them.
func (r *Lockless) Image(base uint64) ([]byte, []string) {
	infosAt := descsAt + uint64(len(r.Descs))
	dataAt := align(infosAt+uint64(len(r.Infos)), 8)
	img := make([]byte, dataAt+uint64(len(r.Data)))
	le.PutUint64(img[0:], base+ringAt)
	rb := img[ringAt : ringAt+ringStructSize]
	le.PutUint32(rb[0:], uint32(r.CountBits))
	le.PutUint64(rb[8:], base+descsAt)
	le.PutUint64(rb[16:], base+infosAt)
	le.PutUint64(rb[24:], r.HeadID)
	le.PutUint64(rb[32:], r.TailID)
	le.PutUint32(rb[48:], uint32(r.SizeBits))
	le.PutUint64(rb[56:], base+dataAt)
	le.PutUint64(rb[64:], r.HeadLpos)
	le.PutUint64(rb[72:], r.TailLpos)
	copy(img[descsAt:], r.Descs)
	copy(img[infosAt:], r.Infos)
	copy(img[dataAt:], r.Data)
	return img, LocklessVMCOREINFO(base)
}

// LocklessVMCOREINFO is what a 6.1 kernel's log_buf_vmcoreinfo_setup exports, for a ring
// laid out by Image at base.
func LocklessVMCOREINFO(base uint64) []string {
	return []string{
		fmt.Sprintf("SYMBOL(prb)=%x", base),
		fmt.Sprintf("SYMBOL(printk_rb_static)=%x", base+ringAt),
		"SIZE(printk_ringbuffer)=88",
		"OFFSET(printk_ringbuffer.desc_ring)=0",
		"OFFSET(printk_ringbuffer.text_data_ring)=48",
		"OFFSET(printk_ringbuffer.fail)=80",
		"SIZE(prb_desc_ring)=48",
		"OFFSET(prb_desc_ring.count_bits)=0",
		"OFFSET(prb_desc_ring.descs)=8",
		"OFFSET(prb_desc_ring.infos)=16",
		"OFFSET(prb_desc_ring.head_id)=24",
		"OFFSET(prb_desc_ring.tail_id)=32",
		"SIZE(prb_desc)=24",
		"OFFSET(prb_desc.state_var)=0",
		"OFFSET(prb_desc.text_blk_lpos)=8",
		"SIZE(prb_data_blk_lpos)=16",
		"OFFSET(prb_data_blk_lpos.begin)=0",
		"OFFSET(prb_data_blk_lpos.next)=8",
		"SIZE(printk_info)=88",
		"OFFSET(printk_info.seq)=0",
		"OFFSET(printk_info.ts_nsec)=8",
		"OFFSET(printk_info.text_len)=16",
		"OFFSET(printk_info.caller_id)=20",
		"OFFSET(printk_info.dev_info)=24",
		"SIZE(dev_printk_info)=64",
		"OFFSET(dev_printk_info.subsystem)=0",
		"LENGTH(printk_info_subsystem)=16",
		"OFFSET(dev_printk_info.device)=16",
		"LENGTH(printk_info_device)=48",
		"SIZE(prb_data_ring)=32",
		"OFFSET(prb_data_ring.size_bits)=0",
		"OFFSET(prb_data_ring.data)=8",
		"OFFSET(prb_data_ring.head_lpos)=16",
		"OFFSET(prb_data_ring.tail_lpos)=24",
		"SIZE(atomic_long_t)=8",
		"OFFSET(atomic_long_t.counter)=0",
	}
}
