package printk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/gokdump/gokdump/printk/printktest"
)

// TestClearSeq: the log since the last clear, with clear_seq as a 5.13+ latched_seq
// (the seqcount's low bit picks the copy) and as a 5.10 plain u64.
func TestClearSeq(t *testing.T) {
	r := printktest.NewLockless(4, 10)
	msgs := addMany(t, r, 6)
	img, lines := r.Image(base)
	at := uint64(len(img)+7) &^ 7
	cs := make([]byte, 24)
	binary.LittleEndian.PutUint32(cs[0:], 3)  // seqcount: odd, read val[1]
	binary.LittleEndian.PutUint64(cs[8:], 99) // val[0], being rewritten
	binary.LittleEndian.PutUint64(cs[16:], 4) // val[1]
	img = append(append(img, make([]byte, at-uint64(len(img)))...), cs...)

	latched := append(append([]string{}, lines...), fmt.Sprintf("SYMBOL(clear_seq)=%x", base+at), "SIZE(latched_seq)=24", "OFFSET(latched_seq.val)=8")
	mem, info := load(t, img, latched)
	seq, err := ClearSeq(mem, info)
	if err != nil || seq != 4 {
		t.Fatalf("latched clear_seq: %d, %v; want 4", seq, err)
	}
	log, err := Read(mem, info)
	if err != nil {
		t.Fatal(err)
	}
	since := log.Since(seq)
	if len(since.Records) != 2 || since.Records[0].Text != msgs[4].Text || since.Records[1].Text != msgs[5].Text {
		t.Errorf("since seq 4: %+v", since.Records)
	}

	plain := append(append([]string{}, lines...), fmt.Sprintf("SYMBOL(clear_seq)=%x", base+at))
	mem, info = load(t, img, plain)
	if seq, err := ClearSeq(mem, info); err != nil || seq != 3 { // the first u64: seqcount 3 and zero padding
		t.Errorf("plain clear_seq: %d, %v; want 3", seq, err)
	}
	mem, info = load(t, img, lines)
	if _, err := ClearSeq(mem, info); !errors.Is(err, ErrNoClearSeq) {
		t.Errorf("no clear_seq: %v", err)
	}
	bad := append(append([]string{}, lines...), fmt.Sprintf("SYMBOL(clear_seq)=%x", uint64(base+1<<30)))
	mem, info = load(t, img, bad)
	if _, err := ClearSeq(mem, info); err == nil {
		t.Error("unreadable clear_seq read")
	}
}
