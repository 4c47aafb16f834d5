package flat_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/format/flat"
	"github.com/gokdump/gokdump/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the seed corpora in testdata/fuzz")

type record struct {
	off  int64
	data string
}

// stream writes records with the package's Writer, ending it unless open.
func stream(t testing.TB, open bool, recs ...record) []byte {
	var b bytes.Buffer
	w := flat.NewWriter(&b)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if _, err := w.WriteAt([]byte(r.data), r.off); err != nil {
			t.Fatal(err)
		}
	}
	if !open {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// readAll reads every record of a stream, through Read or by skipping.
func readAll(data []byte, seekable, skip bool) ([]record, error) {
	var src io.Reader = bytes.NewReader(data)
	if !seekable {
		src = struct{ io.Reader }{src}
	}
	fr, err := flat.NewReader(src)
	if err != nil {
		return nil, err
	}
	var out []record
	for {
		h, err := fr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		r := record{off: h.Offset}
		if !skip {
			b, err := io.ReadAll(fr)
			if err != nil {
				return out, err
			}
			if int64(len(b)) != h.Size {
				return out, errors.New("short record read without an error")
			}
			r.data = string(b)
		}
		out = append(out, r)
	}
}

func seeds(t testing.TB) map[string]map[string][]any {
	return map[string]map[string][]any{
		"FuzzReader": {
			"empty":    {stream(t, false)},
			"records":  {stream(t, false, record{4, "WXYZ"}, record{0, "abcdef"}, record{2, "!"})},
			"no-end":   {stream(t, true, record{0, "a"})},
			"cut-data": {stream(t, false, record{0, "abcdef"})[:flat.StartBlockSize+20]},
		},
	}
}

// TestFuzzSeeds keeps testdata/fuzz in step with the Writer.
// Regenerate with: go test ./format/flat -run TestFuzzSeeds -update
func TestFuzzSeeds(t *testing.T) {
	testenv.CheckFuzzSeeds(t, seeds(t), *update, "go test ./format/flat -run TestFuzzSeeds -update")
}

func TestReaderErrors(t *testing.T) {
	good := stream(t, false, record{0, "abc"})
	start := good[:flat.StartBlockSize]
	// rec is a record written by hand: the Writer refuses bad ones.
	rec := func(off, size int64, data string) []byte {
		b, _ := binary.Append(nil, binary.BigEndian, flat.RecordHeader{Offset: off, Size: size})
		return append(b, data...)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	end := rec(flat.EndMarker, flat.EndMarker, "")
	badType := bytes.Clone(start)
	badType[23] = 2
	badPad := bytes.Clone(start)
	badPad[14] = 'x'
	for _, c := range []struct {
		name, msg string
		off       int64
		truncated bool
		in        []byte
	}{
		{"signature", "not a flattened dump", 0, false, cat([]byte("KDUMP   "), start[8:], end)},
		{"signature padding", "not a flattened dump", 0, false, cat(badPad, end)},
		{"type", "flattened type 2", 16, false, cat(badType, end)},
		{"short start", "start block", 100, true, start[:100]},
		{"no end", "no end record", flat.StartBlockSize + 17, true, cat(start, rec(0, 1, "a"))},
		{"short data", "record data", flat.StartBlockSize + 19, true, cat(start, rec(0, 10, "abc"))},
		{"negative offset", "non-negative offset", flat.StartBlockSize, false, cat(start, rec(-5, 1, "a"), end)},
		{"zero size", "positive size", flat.StartBlockSize, false, cat(start, rec(0, 0, ""), end)},
		{"overflow", "positive size", flat.StartBlockSize, false, cat(start, rec(1<<62, 1<<62, ""), end)},
	} {
		for _, seekable := range []bool{true, false} {
			_, err := readAll(c.in, seekable, false)
			var fe *flat.FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.msg) || fe.Off != c.off || errors.Is(err, flat.ErrTruncated) != c.truncated {
				t.Errorf("%s (seekable %v): %v, want a FormatError at 0x%x saying %q (truncated %v)", c.name, seekable, err, c.off, c.msg, c.truncated)
			}
		}
	}
}

// FuzzReader reads a stream's records by Read, by skipping with Seek and by
// skipping with reads: all three must agree. What reads without error is
// written again with the Writer, and the result must read the same.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := readAll(data, true, false)
		var fe *flat.FormatError
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("error is not a FormatError: %v", err)
		}
		for _, seekable := range []bool{true, false} {
			skipped, serr := readAll(data, seekable, true)
			// Skipping with Seek cannot see data cut short until the next
			// header, so only the error's presence must agree.
			if (err == nil) != (serr == nil) || len(skipped) < len(got) {
				t.Fatalf("skipping (seekable %v): %d records, %v; reading: %d records, %v", seekable, len(skipped), serr, len(got), err)
			}
			for i := range got {
				if skipped[i].off != got[i].off {
					t.Fatalf("record %d at offset %d skipping, %d reading", i, skipped[i].off, got[i].off)
				}
			}
		}
		if err != nil {
			return
		}
		again, err := readAll(stream(t, false, got...), true, false)
		if err != nil || len(again) != len(got) {
			t.Fatalf("re-written stream: %d records, %v; want %d", len(again), err, len(got))
		}
		for i := range got {
			if again[i] != got[i] {
				t.Fatalf("record %d re-written as %+v, want %+v", i, again[i], got[i])
			}
		}
	})
}

// refuser refuses, whole, every write that would take it past limit bytes, and a
// record header whose data would (as a bounded device below a Writer does).
type refuser struct {
	bytes.Buffer
	limit int
}

var errFull = errors.New("full")

func (r *refuser) Write(p []byte) (int, error) {
	need := len(p)
	if len(p) == flat.RecordHeaderLen && r.Len() >= flat.StartBlockSize {
		if size := int64(binary.BigEndian.Uint64(p[8:])); size > 0 {
			need += int(size)
		}
	}
	if r.Len()+need > r.limit {
		return 0, errFull
	}
	return r.Buffer.Write(p)
}

// TestWriterRefusedRecord: a record refused before any of it was written leaves the
// stream in step, so a smaller record and the end record still go in (a bounded
// device then holds a well-formed stream); a record cut inside stops the stream.
func TestWriterRefusedRecord(t *testing.T) {
	r := &refuser{limit: flat.StartBlockSize + 16 + 4 + 16 + 2 + 16}
	w := flat.NewWriter(r)
	if _, err := w.WriteAt([]byte("abcd"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(make([]byte, 100), 4); !errors.Is(err, errFull) {
		t.Fatalf("big record: %v, want the refusal", err)
	}
	if _, err := w.WriteAt([]byte("XY"), 0); err != nil {
		t.Fatalf("a record after a refused one: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("end record: %v", err)
	}
	got, err := readAll(r.Bytes(), true, false)
	if err != nil || len(got) != 2 || got[0] != (record{0, "abcd"}) || got[1] != (record{0, "XY"}) {
		t.Errorf("stream reads %+v, %v", got, err)
	}

	// A device that takes the header but not the data: out of step for good.
	cut := &plainLimit{limit: flat.StartBlockSize + 16 + 10}
	w = flat.NewWriter(cut)
	if _, err := w.WriteAt(make([]byte, 100), 0); err == nil {
		t.Fatal("record data past the limit written")
	}
	if _, err := w.WriteAt([]byte("a"), 0); !errors.Is(err, errFull) {
		t.Errorf("after a record cut inside: %v, want the first error again", err)
	}
}

// plainLimit refuses whole writes past limit bytes, knowing nothing of records.
type plainLimit struct {
	bytes.Buffer
	limit int
}

func (r *plainLimit) Write(p []byte) (int, error) {
	if r.Len()+len(p) > r.limit {
		return 0, errFull
	}
	return r.Buffer.Write(p)
}
