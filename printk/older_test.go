package printk

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/printk/printktest"
)

// A 128-byte log_buf with 24-byte records: the fifth record wraps, which drops the two
// oldest and leaves a wrap marker at index 96. vmcore-dmesg prints that marker as a
// record with a zero stamp and no text; Records leaves it out.
func TestStructuredWrapMarker(t *testing.T) {
	s := printktest.NewStructured(128, false)
	for i := range 5 {
		if err := s.Add(printktest.Message{Text: fmt.Sprintf("msg %d", i), TimestampNs: uint64(i+1) * 1e9, Level: 6}); err != nil {
			t.Fatal(err)
		}
	}
	if s.FirstIdx != 48 || s.NextIdx != 24 {
		t.Fatalf("builder: first %d next %d, want the scenario 48, 24", s.FirstIdx, s.NextIdx)
	}
	log, err := readRing(t, s)
	if err != nil {
		t.Fatal(err)
	}
	want := line(3e9, "msg 2") + line(4e9, "msg 3") + "[    0.000000] \n" + line(5e9, "msg 4")
	if got := text(t, log); got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
	if log.Layout != Structured || len(log.Records) != 3 {
		t.Fatalf("%v with %d records", log.Layout, len(log.Records))
	}
	for i, rec := range log.Records {
		if rec.Seq != uint64(i) || rec.Text != fmt.Sprintf("msg %d", i+2) || rec.Level != 6 || rec.Facility != 0 || rec.HasCaller {
			t.Errorf("record %d: %+v", i, rec)
		}
	}
}

// Many records through a small buffer, with caller ids and dictionaries: the newest
// records come back in order, whatever wrapping happened.
func TestStructuredMany(t *testing.T) {
	for _, oldName := range []bool{false, true} {
		s := printktest.NewStructured(1024, !oldName)
		s.OldName = oldName
		var msgs []printktest.Message
		for i := range 200 {
			m := printktest.Message{Text: fmt.Sprintf("record %d %s", i, strings.Repeat("y", i*13%61)),
				TimestampNs: uint64(i) * 3_000_001, CallerID: 0x80000000 | uint32(i%4), Level: uint8(i % 8), Facility: uint8(i % 3)}
			if i%5 == 0 {
				m.Subsystem, m.Device = "pci", fmt.Sprintf("+pci:0000:00:%02x.0", i%32)
			}
			if err := s.Add(m); err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, m)
		}
		log, err := readRing(t, s)
		if err != nil {
			t.Fatal(err)
		}
		n := len(log.Records)
		if n < 5 {
			t.Fatalf("only %d records", n)
		}
		var want strings.Builder
		for i, rec := range log.Records {
			m := msgs[len(msgs)-n+i]
			if rec.Text != m.Text || rec.TimestampNs != m.TimestampNs || rec.Level != int(m.Level) || rec.Facility != int(m.Facility) ||
				rec.Subsystem != m.Subsystem || rec.Device != m.Device || rec.HasCaller == oldName || (!oldName && rec.CallerID != m.CallerID) {
				t.Errorf("old name %v, record %d: %+v, want %+v", oldName, i, rec, m)
			}
			want.WriteString(line(m.TimestampNs, m.Text))
		}
		got := strings.Replace(text(t, log), "[    0.000000] \n", "", 1) // the wrap marker, if between the records
		if got != want.String() {
			t.Errorf("old name %v: text:\n%s\nwant:\n%s", oldName, got, want.String())
		}
	}
}

func TestStructuredCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(s *printktest.Structured)
		records int
		msg     string
	}{
		{"len past the end", func(s *printktest.Structured) {
			binary.LittleEndian.PutUint16(s.Buf[72+8:], 60)
		}, 1, "record at log_buf index 0x48 has len 60, text_len 5, dict_len 0: not a record of the 0x80-byte buffer"},
		{"len shorter than its text", func(s *printktest.Structured) {
			binary.LittleEndian.PutUint16(s.Buf[48+10:], 9)
		}, 0, "record at log_buf index 0x30 has len 24, text_len 9"},
		{"loop through a second wrap", func(s *printktest.Structured) {
			s.NextIdx = 4 // on no record: the walk passes the wrap marker twice
		}, 6, "second wrap marker at log_buf index 0x60: the records loop"},
		{"first index outside", func(s *printktest.Structured) {
			s.FirstIdx = 120
		}, -1, "log_first_idx 0x78 or log_next_idx 0x18 is outside the 0x80-byte log_buf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := printktest.NewStructured(128, false)
			for i := range 5 {
				if err := s.Add(printktest.Message{Text: fmt.Sprintf("msg %d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			tc.damage(s)
			log, err := readRing(t, s)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one with %q", err, tc.msg)
			}
			if tc.records < 0 {
				if log != nil {
					t.Errorf("a Log from a buffer that cannot be walked")
				}
				return
			}
			if log == nil || len(log.Records) != tc.records {
				t.Fatalf("log %+v, want %d records before the damage", log, tc.records)
			}
		})
	}
}

func TestPlain(t *testing.T) {
	lines := []string{
		"<6>[    0.000000] Linux version 2.6.32-5-amd64\n",
		"<4>[    1.250000] warning: \x01odd\n",
		"<14>from user space\n",
		"<3>no stamp and no newline",
	}
	full := strings.Join(lines, "")
	for _, tc := range []struct {
		name   string
		bufLen int
		want   string
	}{
		{"not wrapped", 256, full},
		{"wrapped", 64, full[len(full)-64:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := printktest.NewPlain(tc.bufLen)
			for _, l := range lines {
				p.Write(l)
			}
			log, err := readRing(t, p)
			if err != nil {
				t.Fatal(err)
			}
			// vmcore-dmesg prints the ring as it is, unescaped.
			if got := text(t, log); got != tc.want {
				t.Errorf("text %q, want %q", got, tc.want)
			}
			last := log.Records[len(log.Records)-1]
			if last.Text != "no stamp and no newline" || last.Level != 3 || last.Facility != 0 || last.TimestampNs != 0 {
				t.Errorf("last record %+v", last)
			}
			if tc.bufLen < len(full) {
				return
			}
			if len(log.Records) != 4 {
				t.Fatalf("%d records, want 4", len(log.Records))
			}
			first, user := log.Records[0], log.Records[2]
			if first.Text != "Linux version 2.6.32-5-amd64" || first.Level != 6 || first.TimestampNs != 0 ||
				log.Records[1].TimestampNs != 1_250_000_000 || log.Records[1].Text != "warning: \x01odd" ||
				user.Level != 6 || user.Facility != 1 || user.Text != "from user space" {
				t.Errorf("records %+v", log.Records)
			}
		})
	}
}

// A log_buf_len the kernel cannot have is refused; a ring the dump holds only part of
// gives what it holds and an error.
func TestPlainBad(t *testing.T) {
	p := printktest.NewPlain(4096)
	p.Write(strings.Repeat("<6>line\n", 100))
	img, lines := p.Image(base)
	bad := append([]byte(nil), img...)
	binary.LittleEndian.PutUint32(bad[8:], 0)
	if _, err := readImage(t, bad, lines); err == nil || !strings.Contains(err.Error(), "log_buf_len 0 is not a plausible buffer size") {
		t.Errorf("log_buf_len 0: %v", err)
	}
	log, err := readImage(t, img[:64+400], lines)
	if err == nil || !strings.Contains(err.Error(), "cannot read log_buf at index 0x0") || log == nil {
		t.Errorf("truncated ring: log %v, error %v", log, err)
	}
}
