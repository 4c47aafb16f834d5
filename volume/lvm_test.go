package volume

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

// realPV returns the first MiB of a PV lvm2 made (TestRealLVM's linear-striped state).
func realPV(t *testing.T) []byte {
	s := loadLVMState(t, "linear-striped")
	return s.images[slices.Sorted(maps.Keys(s.images))[0]]
}

func TestLVMCRC(t *testing.T) {
	// lvm2's calc_crc over nothing is its initial value; over the label sector of a
	// real PV it is what lvm2 stored there.
	if got := lvmCRC(lvmCRCInitial, nil); got != lvmCRCInitial {
		t.Errorf("crc of nothing = %#x", got)
	}
	img := realPV(t)
	lab := img[sectorSize : 2*sectorSize]
	if got, want := lvmCRC(lvmCRCInitial, lab[labelOffsetOff:]), binary.LittleEndian.Uint32(lab[labelCRCOff:]); got != want {
		t.Errorf("label crc %#x, lvm2 stored %#x", got, want)
	}
	// Continuing a CRC over a second part (metadata text that wraps) is the CRC of both.
	p := []byte("vgtest {\n\tid = \"x\"\n}\n")
	if lvmCRC(lvmCRC(lvmCRCInitial, p[:7]), p[7:]) != lvmCRC(lvmCRCInitial, p) {
		t.Error("the CRC does not continue")
	}
}

func TestLVMDamage(t *testing.T) {
	good := realPV(t)
	le := binary.LittleEndian
	rechecksum := func(img []byte) {
		m := img[4096 : 4096+mdaHeaderSize]
		le.PutUint32(m[mdaChecksumOff:], lvmCRC(lvmCRCInitial, m[mdaMagicOff:]))
	}
	textAt := 4096 + le.Uint64(good[4096+mdaLocnsOff:])
	for _, c := range []struct {
		name   string
		damage func(img []byte)
		at     int64 // FormatError offset; -1: ErrNotPV
	}{
		{"no label", func(img []byte) { copy(img[512:], "LABELTWO") }, -1},
		{"label checksum", func(img []byte) { img[512+100]++ }, 512 + labelCRCOff},
		{"label sector", func(img []byte) { img[512+labelSectorOff] = 2 }, 512 + labelSectorOff},
		{"pv_header offset", func(img []byte) {
			le.PutUint32(img[512+labelOffsetOff:], 600)
			le.PutUint32(img[512+labelCRCOff:], lvmCRC(lvmCRCInitial, img[512+labelOffsetOff:1024]))
		}, 512 + labelOffsetOff},
		{"mda checksum", func(img []byte) { img[4096+mdaLocnsOff+30]++ }, 4096},
		{"mda magic", func(img []byte) { img[4096+mdaMagicOff+3] = 'X'; rechecksum(img) }, 4096 + mdaMagicOff},
		{"mda start", func(img []byte) { le.PutUint64(img[4096+mdaStartOff:], 8192); rechecksum(img) }, 4096 + mdaStartOff},
		{"text past the area", func(img []byte) {
			le.PutUint64(img[4096+mdaLocnsOff+8:], 1<<40)
			rechecksum(img)
		}, 4096 + mdaLocnsOff},
		{"text checksum", func(img []byte) { img[textAt+3]++ }, int64(textAt)},
	} {
		img := bytes.Clone(good)
		c.damage(img)
		_, err := ReadPV(bytes.NewReader(img))
		if c.at < 0 {
			if !errors.Is(err, ErrNotPV) {
				t.Errorf("%s: %v, want ErrNotPV", c.name, err)
			}
			continue
		}
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Off != c.at {
			t.Errorf("%s: %v, want a FormatError at byte %d", c.name, err, c.at)
		}
	}
	// The metadata text may wrap around the end of the area to just after its header.
	pv, err := ReadPV(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	img := buildPV(pv.Label.UUID, "", 16) // area 4096..8192: 3584 bytes of ring
	text := append(bytes.Clone(pv.Text), 0)
	if len(text) > 3584 {
		text = append([]byte(vgText("vgw", testVGID, pv.Label.UUID, 2, 1)), 0)
	}
	off := uint64(4096 - 100) // 100 bytes before the end of the area, the rest wraps
	end := copy(img[4096+off:8192], text)
	copy(img[4096+mdaHeaderSize:], text[end:])
	m := img[4096:]
	le.PutUint64(m[mdaLocnsOff:], off)
	le.PutUint64(m[mdaLocnsOff+8:], uint64(len(text)))
	le.PutUint32(m[mdaLocnsOff+16:], lvmCRC(lvmCRCInitial, text))
	rechecksum(img)
	got, err := ReadPV(bytes.NewReader(img))
	if err != nil || string(got.Text) != string(text[:len(text)-1]) {
		t.Errorf("wrapped text: %v", err)
	}
}

func TestMetadataTextErrors(t *testing.T) {
	base := vgText("vg0", testVGID, testPVID, 3, 2)
	for _, c := range []struct {
		name, old, new string
		line           int
		says           string
	}{
		{"seqno a string", "seqno = 3", `seqno = "3"`, 3, "seqno is a string, expected an integer"},
		{"negative pe_start", "pe_start = 2048", "pe_start = -1", 21, "non-negative"},
		{"unclosed string", "creation_time = 1796601198", "creation_time = \"1796601198", 0, "not closed"},
		{"missing brace", "\t\t\t}\n\t\t}\n\t}\n\n}", "\t\t\t}\n\t\t}\n\t}\n\n", 0, "expected }"},
		{"stripes short", `"pv0", 0`, `"pv0"`, 43, "stripes holds 1 values, expected 2"},
		{"segment_count", "segment_count = 1", "segment_count = 2", 28, "segment_count says 2"},
		{"no extent_size", "extent_size = 8192", "extent_sizes = 8192", 1, "no extent_size"},
		{"list separator", `"RESIZEABLE", "READ"`, `"RESIZEABLE" "READ"`, 5, "expected , or ]"},
		{"stray character", "max_lv = 0", "max_lv = @", 8, "expected a string, an integer or a list"},
		{"two VGs", "contents =", "vg2 { }\ncontents =", 1, "2 top-level sections"},
	} {
		text := strings.Replace(base, c.old, c.new, 1)
		if text == base {
			t.Fatalf("%s: %q not in the text", c.name, c.old)
		}
		_, err := ParseMetadata([]byte(text))
		var fe *FormatError
		if !errors.As(err, &fe) || c.line != 0 && fe.Line != c.line || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want line %d saying %q", c.name, err, c.line, c.says)
		}
	}
	if _, err := ParseMetadata([]byte(strings.Repeat("a {", 100))); err == nil || !strings.Contains(err.Error(), "deeper") {
		t.Errorf("deep nesting: %v", err)
	}
}

// TestDescribeLVRefusals covers what lvm2 cannot make here without device-mapper:
// snapshots, raid, mirrors, a pvmove in progress, missing PVs, shared VGs.
func TestDescribeLVRefusals(t *testing.T) {
	base := vgText("vg0", testVGID, testPVID, 3, 2)
	snapshot := strings.Replace(base, "\t}\n\n}", `
		snap0 {
			id = "Snap00-aaaa-bbbb-cccc-dddd-eeee-ffffff"
			status = ["READ", "WRITE"]
			flags = []
			segment_count = 1

			segment1 {
				start_extent = 0
				extent_count = 1
				type = "snapshot"
				chunk_size = 8
				origin = "root"
				cow_store = "snapcow"
			}
		}
	}

}`, 1)
	for _, c := range []struct {
		name, text, says string
	}{
		{"snapshot origin", snapshot, "origin of snapshot snap0"},
		{"raid1", strings.Replace(base, `type = "striped"`, `type = "raid1"`, 1), "dm-raid"},
		{"mirror", strings.Replace(base, `type = "striped"`, `type = "mirror"`, 1), "mirror"},
		{"cache", strings.Replace(base, `type = "striped"`, `type = "cache"`, 1), "dm-cache"},
		{"unknown", strings.Replace(base, `type = "striped"`, `type = "frobnicated"`, 1), `"frobnicated"`},
		{"pvmove", strings.Replace(base, `status = ["READ", "WRITE", "VISIBLE"]`, `status = ["READ", "WRITE", "VISIBLE", "LOCKED"]`, 1), "pvmove"},
		{"pvmove stripe", strings.Replace(strings.Replace(base, `"pv0", 0`, `"root", 0`, 1), "", "", 1), "maps onto LV root"},
		{"missing PV", strings.Replace(base, `status = ["ALLOCATABLE"]`, `status = ["ALLOCATABLE", "MISSING"]`, 1), "missing"},
		{"shared VG", strings.Replace(base, "\tseqno = 3", "\tseqno = 3\n\tlock_type = \"sanlock\"", 1), "lvmlockd"},
	} {
		vg, err := ParseMetadata([]byte(c.text))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, err = DescribeLV(vg, "root")
		var ue *UnsupportedError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want an UnsupportedError saying %q", c.name, err, c.says)
		}
	}
	vg, _ := ParseMetadata([]byte(base))
	if _, err := DescribeLV(vg, "nope"); !errors.Is(err, ErrMissingDevice) {
		t.Errorf("no such LV: %v", err)
	}
	// Extents beyond the PV: bad metadata, not a refusal.
	vg, _ = ParseMetadata([]byte(strings.Replace(base, `"pv0", 0`, `"pv0", 14`, 1)))
	if _, err := DescribeLV(vg, "root"); err == nil || !strings.Contains(err.Error(), "which has 15") {
		t.Errorf("extents past the PV: %v", err)
	}
}
