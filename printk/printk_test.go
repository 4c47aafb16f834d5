package printk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/printk/printktest"
	"github.com/gokdump/gokdump/vmcore"
)

const base = 0xffff9f3c48000000 // a direct-map address, as the kernel's log buffers have

// load puts img at base and parses the VMCOREINFO lines.
func load(t testing.TB, img []byte, lines []string) (*printktest.Memory, *vmcore.VMCOREINFO) {
	t.Helper()
	mem := &printktest.Memory{}
	mem.Add(base, img)
	info, err := vmcore.ParseVMCOREINFO([]byte(strings.Join(lines, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return mem, info
}

func readImage(t testing.TB, img []byte, lines []string) (*Log, error) {
	mem, info := load(t, img, lines)
	return Read(mem, info)
}

type imager interface {
	Image(base uint64) ([]byte, []string)
}

// readRing lays r out at base and reads it.
func readRing(t testing.TB, r imager) (*Log, error) {
	img, lines := r.Image(base)
	return readImage(t, img, lines)
}

func text(t testing.TB, l *Log) string {
	t.Helper()
	var b bytes.Buffer
	if err := l.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// line is the test's own statement of vmcore-dmesg's format for text without bytes to
// escape.
func line(ts uint64, s string) string {
	return fmt.Sprintf("[%5d.%06d] %s\n", ts/1e9, ts%1e9/1e3, s)
}

func TestLockless(t *testing.T) {
	r := printktest.NewLockless(4, 10)
	msgs := []printktest.Message{
		{Text: "Linux version 6.1.0-56-amd64", TimestampNs: 0, CallerID: 0, Level: 5},
		{Text: "first line\n second line", TimestampNs: 1_500_000_999, CallerID: 1, Level: 6},
		{Text: "", TimestampNs: 2_000_001_000, CallerID: 0x80000003, Level: 4},
		{Text: "acpi PNP0A03:00: _OSC", TimestampNs: 12345_678901_234, CallerID: 7, Level: 6, Facility: 0,
			Subsystem: "acpi", Device: "+acpi:PNP0A03:00"},
		{Text: "user\x01message", TimestampNs: 99, CallerID: 42, Level: 7, Facility: 1},
	}
	for _, m := range msgs {
		if _, err := r.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	log, err := readRing(t, r)
	if err != nil {
		t.Fatal(err)
	}
	want := "[    0.000000] Linux version 6.1.0-56-amd64\n" +
		"[    1.500000] first line\n second line\n" +
		"[    2.000001] \n" +
		"[12345.678901] acpi PNP0A03:00: _OSC\n" +
		"[    0.000000] user\\x01message\n"
	if got := text(t, log); got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
	// The one skipped is the reusable descriptor a new ring's tail starts at.
	if log.Layout != Lockless || len(log.Records) != len(msgs) || log.Skipped != 1 {
		t.Fatalf("layout %v, %d records, %d skipped", log.Layout, len(log.Records), log.Skipped)
	}
	for i, rec := range log.Records {
		m := msgs[i]
		if rec.Seq != uint64(i) || rec.TimestampNs != m.TimestampNs || rec.Text != m.Text || rec.CallerID != m.CallerID || !rec.HasCaller ||
			rec.Level != int(m.Level) || rec.Facility != int(m.Facility) || rec.Subsystem != m.Subsystem || rec.Device != m.Device {
			t.Errorf("record %d: %+v, want %+v", i, rec, m)
		}
	}
	if id, isCPU, ok := log.Records[2].Caller(); !ok || !isCPU || id != 3 {
		t.Errorf("caller of record 2: %d cpu=%v ok=%v, want CPU 3", id, isCPU, ok)
	}
	if id, isCPU, ok := log.Records[4].Caller(); !ok || isCPU || id != 42 {
		t.Errorf("caller of record 4: %d cpu=%v ok=%v, want PID 42", id, isCPU, ok)
	}
}

// addMany writes n messages of varied lengths and returns them.
func addMany(t testing.TB, r *printktest.Lockless, n int) []printktest.Message {
	t.Helper()
	var msgs []printktest.Message
	for i := range n {
		m := printktest.Message{Text: fmt.Sprintf("message %d%s", i, strings.Repeat("x", i*7%53)),
			TimestampNs: uint64(i) * 1_234_567, CallerID: uint32(i), Level: uint8(i % 8)}
		if _, err := r.Add(m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// Many more records than fit: both rings wrap many times, the oldest records are freed,
// and what is read is exactly the newest records, in order, one of them stored in a
// wrapping text block.
func TestLocklessWrapped(t *testing.T) {
	r := printktest.NewLockless(4, 9)
	msgs := addMany(t, r, 300)
	log, err := readRing(t, r)
	if err != nil {
		t.Fatal(err)
	}
	n := len(log.Records)
	if n < 4 || n > 16 {
		t.Fatalf("%d records from a 16-descriptor ring", n)
	}
	wrapped := false
	var want strings.Builder
	for i, rec := range log.Records {
		k := len(msgs) - n + i
		if rec.Seq != uint64(k) || rec.Text != msgs[k].Text {
			t.Errorf("record %d: seq %d %q, want seq %d %q", i, rec.Seq, rec.Text, k, msgs[k].Text)
		}
		wrapped = wrapped || r.WrapsData(r.HeadID-uint64(n-1-i))
		want.WriteString(line(msgs[k].TimestampNs, msgs[k].Text))
	}
	if !wrapped {
		t.Error("no record read was stored in a wrapping text block: the test does not test wrapping")
	}
	if got := text(t, log); got != want.String() {
		t.Errorf("text:\n%s\nwant:\n%s", got, want.String())
	}
	// The ids from tail to head are all read or skipped (freed for their text's room).
	if span := r.HeadID - r.TailID + 1; uint64(n+log.Skipped) != span {
		t.Errorf("%d records + %d skipped, want the %d ids from tail to head", n, log.Skipped, span)
	}
}

// Descriptors a writer was filling at the crash, freed ones, and ones whose state_var
// carries another id are skipped, as the kernel's readers and vmcore-dmesg skip them;
// a committed (not yet finalized) record is read.
func TestLocklessSkipsUnreadable(t *testing.T) {
	r := printktest.NewLockless(4, 10)
	var ids []uint64
	for i := range 6 {
		id, err := r.Add(printktest.Message{Text: fmt.Sprintf("m%d", i), TimestampNs: uint64(i) * 1e9})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	r.SetState(ids[1], printktest.StateReserved)
	r.SetState(ids[2], printktest.StateReusable)
	// The id of the slot's next use: a stale or torn descriptor.
	binary.LittleEndian.PutUint64(r.Desc(ids[3]), printktest.StateVar(ids[3]+16, printktest.StateFinalized))
	r.SetState(ids[5], printktest.StateCommitted)
	log, err := readRing(t, r)
	if err != nil {
		t.Fatal(err)
	}
	want := line(0, "m0") + line(4e9, "m4") + line(5e9, "m5")
	// Three damaged, and the reusable descriptor a new ring's tail starts at.
	if got := text(t, log); got != want || log.Skipped != 4 {
		t.Errorf("text:\n%s(skipped %d)\nwant:\n%s(skipped 4)", got, log.Skipped, want)
	}
}

// A damaged ring gives the records before the damage and an error naming the record.
func TestLocklessCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(r *printktest.Lockless, ids []uint64)
		records int    // records read before the damage
		msg     string // in the error, after "record id 0x<id of records[n]> (seq n): "
	}{
		{"unaligned lpos", func(r *printktest.Lockless, ids []uint64) {
			r.SetLpos(ids[2], 0x1004, 0x1020)
		}, 2, "text block lpos begin 0x1004 next 0x1020 is not aligned to 8 bytes"},
		{"lpos two wraps apart", func(r *printktest.Lockless, ids []uint64) {
			r.SetLpos(ids[1], 0x1000, 0x1800)
		}, 1, "text block lpos begin 0x1000 next 0x1800 is not a block of the 0x400-byte data ring"},
		{"lpos backwards", func(r *printktest.Lockless, ids []uint64) {
			r.SetLpos(ids[3], 0x1020, 0x1010)
		}, 3, "text block lpos begin 0x1020 next 0x1010 is not a block"},
		{"block of another record", func(r *printktest.Lockless, ids []uint64) {
			begin := binary.LittleEndian.Uint64(r.Desc(ids[3])[8:])
			r.Data[begin%uint64(len(r.Data))] ^= 0x55
		}, 3, "its text block at lpos"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := printktest.NewLockless(4, 10)
			var ids []uint64
			for i := range 5 {
				id, err := r.Add(printktest.Message{Text: fmt.Sprintf("record %d", i), TimestampNs: uint64(i)})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			tc.damage(r, ids)
			log, err := readRing(t, r)
			want := fmt.Sprintf("record id 0x%x (seq %d): %s", ids[tc.records], tc.records, tc.msg)
			var fe *FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want a *FormatError with %q", err, want)
			}
			if fe.Addr == 0 {
				t.Error("the error has no address")
			}
			if log == nil {
				t.Fatal("no Log with the error")
			}
			if len(log.Records) != tc.records {
				t.Errorf("%d records before the damage, want %d", len(log.Records), tc.records)
			}
			for i, rec := range log.Records {
				if rec.Text != fmt.Sprintf("record %d", i) {
					t.Errorf("record %d is %q", i, rec.Text)
				}
			}
		})
	}
}

// Memory the dump lacks ends the walk with an error naming what could not be read.
func TestLocklessHole(t *testing.T) {
	r := printktest.NewLockless(4, 10)
	msgs := addMany(t, r, 5)
	img, lines := r.Image(base)
	// Cut the memory in the middle of the newest record's text.
	dataAt := binary.LittleEndian.Uint64(img[0x40+48+8:]) - base
	begin := binary.LittleEndian.Uint64(r.Desc(r.HeadID)[8:]) % uint64(len(r.Data))
	log, err := readImage(t, img[:dataAt+begin+8+3], lines)
	want := fmt.Sprintf("cannot read text of record id 0x%x", r.HeadID)
	if err == nil || !strings.Contains(err.Error(), want) || log == nil || len(log.Records) != 4 {
		t.Fatalf("log %v, error %v; want 4 records and an error with %q", log, err, want)
	}
	var fe *FormatError
	if !errors.As(err, &fe) || errors.Unwrap(fe) == nil || fe.Addr != base+dataAt+begin+8+3 {
		t.Errorf("error %#v: want a *FormatError at the first missing byte, wrapping the read error", err)
	}
	if log.Records[3].Text != msgs[3].Text {
		t.Errorf("last record read: %q, want %q", log.Records[3].Text, msgs[3].Text)
	}
}

// A text block that ends exactly at the end of the ring is read where it is. Kernels up
// to 6.12 store such a block at index 0 instead (see textBlock).
func TestLocklessBlockEndingAtRingEnd(t *testing.T) {
	r := printktest.NewLockless(4, 10)
	id, err := r.Add(printktest.Message{Text: "moved", TimestampNs: 7e9})
	if err != nil {
		t.Fatal(err)
	}
	const begin = 0x1400 - 16
	binary.LittleEndian.PutUint64(r.Data[0x400-16:], id)
	copy(r.Data[0x400-8:], "endofrng")
	r.SetLpos(id, begin, 0x1400)
	binary.LittleEndian.PutUint16(r.Info(id)[16:], 8)
	log, err := readRing(t, r)
	if err != nil || len(log.Records) != 1 || log.Records[0].Text != "endofrng" {
		t.Fatalf("records %+v, error %v; want one record \"endofrng\"", log, err)
	}
}

// Ring headers the kernel could not have written are refused before any walk.
func TestLocklessBadHeader(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(img []byte)
		msg    string
	}{
		{"head far past tail", func(img []byte) { img[0x40+24+1] = 0x10 }, "more than the 16 descriptors"},
		{"huge count_bits", func(img []byte) { img[0x40] = 40 }, "2^40 descriptors"},
		{"state bits in head id", func(img []byte) { img[0x40+24+7] = 0x80 }, "has state bits set"},
		{"prb points nowhere", func(img []byte) { img[3] ^= 0x40 }, "cannot read prb_desc_ring.count_bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := printktest.NewLockless(4, 10)
			addMany(t, r, 5)
			img, lines := r.Image(base)
			tc.damage(img)
			log, err := readImage(t, img, lines)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one with %q", err, tc.msg)
			}
			if log != nil {
				t.Errorf("a Log of %d records from a ring that cannot be walked", len(log.Records))
			}
		})
	}
}

func TestMissingKeys(t *testing.T) {
	mem := &printktest.Memory{}
	info, _ := vmcore.ParseVMCOREINFO([]byte("OSRELEASE=6.1.0\n"))
	if _, err := Read(mem, info); !errors.Is(err, ErrNoLog) {
		t.Errorf("no log keys: %v, want ErrNoLog", err)
	}
	info, _ = vmcore.ParseVMCOREINFO([]byte("SYMBOL(prb)=ffffffff848643e0\nSIZE(prb_desc)=24\n"))
	_, err := Read(mem, info)
	if err == nil || !strings.Contains(err.Error(), "OFFSET(printk_ringbuffer.desc_ring)") || !strings.Contains(err.Error(), "SIZE(printk_info)") {
		t.Errorf("partial lockless keys: %v, want the missing keys named", err)
	}
	info, _ = vmcore.ParseVMCOREINFO([]byte("SYMBOL(log_buf)=ffffffff848643e0\n"))
	if _, err := Read(mem, info); err == nil || !strings.Contains(err.Error(), "SYMBOL(log_end)") {
		t.Errorf("plain ring without log_end: %v", err)
	}
}

func TestAppendText(t *testing.T) {
	for _, tc := range []struct {
		ts   uint64
		text string
		want string
	}{
		{0, "", "[    0.000000] \n"},
		{999, "a", "[    0.000000] a\n"}, // truncated to microseconds, not rounded
		{1999, "a", "[    0.000001] a\n"},
		{99999_999999_000, "b", "[99999.999999] b\n"},
		{123456_789012_345, "c", "[123456.789012] c\n"},
		{^uint64(0), "max", "[18446744073.709551] max\n"},
		// isprint or isspace in the C locale passes, everything else is \xNN.
		{1_000_002_000, "a\x01b\tc\nd\x7f\xff\x1b[0m\r\v\f\x00 ~", "[    1.000002] a\\x01b\tc\nd\\x7f\\xff\\x1b[0m\r\v\f\\x00 ~\n"},
		{0, "caf\xc3\xa9", "[    0.000000] caf\\xc3\\xa9\n"},
	} {
		got := string(AppendText(nil, &Record{TimestampNs: tc.ts, Text: tc.text}))
		if got != tc.want {
			t.Errorf("AppendText(%d, %q) = %q, want %q", tc.ts, tc.text, got, tc.want)
		}
	}
}

// Every byte value: exactly the bytes outside 0x20-0x7e and 0x09-0x0d are escaped.
func TestAppendEscapedAllBytes(t *testing.T) {
	for c := 0; c < 256; c++ {
		got := string(AppendEscaped(nil, string([]byte{byte(c)})))
		keep := c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || (c > ' ' && c < 127)
		want := string([]byte{byte(c)})
		if !keep {
			want = fmt.Sprintf("\\x%02x", c)
		}
		if got != want {
			t.Errorf("byte 0x%02x: %q, want %q", c, got, want)
		}
	}
}

// makedumpfile --dump-dmesg differs from vmcore-dmesg in three ways (see text.go); the
// lab holds the whole output to makedumpfile's on real crashes, this pins each rule.
func TestAppendMakedumpfileText(t *testing.T) {
	for _, tc := range []struct {
		ts   uint64
		text string
		want string
	}{
		{7196636000, "sysrq: Trigger a crash", "[    7.196636] sysrq: Trigger a crash\n"},
		{1000, "first\nsecond\n  third", "[    0.000001] first\n               second\n                 third\n"},
		{123456789012345, "a\nb", "[123456.789012] a\n                b\n"},
		{0, "tab\there \x01 \x7f \x80 \xff", "[    0.000000] tab\there \\x01 \\x7f \\xffffff80 \\xffffffff\n"},
	} {
		got := string(AppendMakedumpfileText(nil, &Record{TimestampNs: tc.ts, Text: tc.text}))
		if got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.text, got, tc.want)
		}
		// vmcore-dmesg's form of the same record has no indentation and no sign extension.
		if strings.Contains(tc.text, "\n") && strings.Contains(string(AppendText(nil, &Record{TimestampNs: tc.ts, Text: tc.text})), "\n   ") {
			t.Errorf("%q: vmcore-dmesg's form is indented too", tc.text)
		}
	}
}
