package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/gokdump/gokdump/volume"
)

// Reading a guest's volumes back on the host. The host kernel has neither
// device-mapper nor md, but a volume's bytes are all on the disk images: an md RAID1
// array's data is a range of any in-sync member (its superblock says where), a linear
// LV's a range of its PV (the LVM metadata says where), a striped LV's chunks spread
// over its PVs, which VolumeImage reassembles into a file. The ranges are computed
// with package volume's readers, the ones the capture uses, and checked against the
// real tools' view by the lab tests that made them (lvm2, mdadm in the guest).

// VolumeImage is a volume's bytes on the host: Size bytes at Offset of the file (or
// block device) Path.
type VolumeImage struct {
	Path         string
	Offset, Size int64
}

// WholeFile is the VolumeImage of a whole file.
func WholeFile(path string) (VolumeImage, error) {
	st, err := os.Stat(path)
	if err != nil {
		return VolumeImage{}, fmt.Errorf("lab: %w", err)
	}
	return VolumeImage{Path: path, Size: st.Size()}, nil
}

// open returns a reader of the volume's bytes and the file to close.
func (v VolumeImage) open() (*os.File, *io.SectionReader, error) {
	f, err := os.Open(v.Path)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	return f, io.NewSectionReader(f, v.Offset, v.Size), nil
}

// MDMemberData returns the array data held by an md (metadata 1.2) RAID1 member and
// the member's superblock: every in-sync member of a RAID1 holds the whole array.
func MDMemberData(member VolumeImage) (VolumeImage, *volume.Superblock, error) {
	f, r, err := member.open()
	if err != nil {
		return VolumeImage{}, nil, err
	}
	defer f.Close()
	sb, err := volume.ReadSuperblock(r)
	if err != nil {
		return VolumeImage{}, nil, fmt.Errorf("lab: %s at %d: %w", member.Path, member.Offset, err)
	}
	if sb.Level != 1 {
		return VolumeImage{}, nil, fmt.Errorf("lab: %s: md level %d; only RAID1 members hold the whole array", member.Path, sb.Level)
	}
	off, size := int64(sb.DataOffset)*512, int64(sb.Size)*512
	if off < 0 || size <= 0 || off > member.Size || size > member.Size-off {
		return VolumeImage{}, nil, fmt.Errorf("lab: %s: md data %d+%d bytes lies outside the member's %d", member.Path, off, size, member.Size)
	}
	return VolumeImage{Path: member.Path, Offset: member.Offset + off, Size: size}, sb, nil
}

// FindLV reads the LVM labels and metadata of devs and returns the logical volume
// vgName/lvName as the dm table lvm2 would load (volume.DescribeLV: linear and striped
// only), with its PVs' images by PV UUID. The freshest metadata (highest seqno) wins.
func FindLV(devs []VolumeImage, vgName, lvName string) (*volume.MappedLV, map[string]VolumeImage, error) {
	pvs := map[string]VolumeImage{}
	var vg *volume.VG
	for _, d := range devs {
		f, r, err := d.open()
		if err != nil {
			return nil, nil, err
		}
		pv, err := volume.ReadPV(r)
		f.Close()
		if errors.Is(err, volume.ErrNotPV) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("lab: %s at %d: %w", d.Path, d.Offset, err)
		}
		pvs[pv.Label.UUID] = d
		if pv.VG != nil && pv.VG.Name == vgName && (vg == nil || pv.VG.Seqno > vg.Seqno) {
			vg = pv.VG
		}
	}
	if vg == nil {
		return nil, nil, fmt.Errorf("lab: no PV among %d devices holds metadata of volume group %q", len(devs), vgName)
	}
	lv, err := volume.DescribeLV(vg, lvName)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	for _, id := range lv.PVs {
		if _, ok := pvs[id]; !ok {
			return nil, nil, fmt.Errorf("lab: %s/%s: PV %s is not among the devices", vgName, lvName, id)
		}
	}
	return lv, pvs, nil
}

// lvPiece is a run of an LV's sectors on one PV.
type lvPiece struct {
	lvSector, pvSector, sectors uint64
	pv                          string
}

// lvPieces maps the LV's sectors onto its PVs the way dm's linear and striped
// targets do: in a striped target, chunk c lies on stripe c mod n, at chunk c div n
// of that stripe's area.
func lvPieces(lv *volume.MappedLV) ([]lvPiece, error) {
	var out []lvPiece
	for _, t := range lv.Table {
		switch {
		case t.Type == "linear" && len(t.Stripes) == 1:
			out = append(out, lvPiece{t.Start, t.Stripes[0].Offset, t.Length, t.Stripes[0].PV})
		case t.Type == "striped" && len(t.Stripes) > 0 && t.ChunkSectors > 0:
			n := uint64(len(t.Stripes))
			if t.Length%(t.ChunkSectors*n) != 0 {
				return nil, fmt.Errorf("lab: striped target at sector %d: length %d is no whole number of %d chunks of %d sectors",
					t.Start, t.Length, n, t.ChunkSectors)
			}
			for c := uint64(0); c < t.Length/t.ChunkSectors; c++ {
				s := t.Stripes[c%n]
				out = append(out, lvPiece{t.Start + c*t.ChunkSectors, s.Offset + (c/n)*t.ChunkSectors, t.ChunkSectors, s.PV})
			}
		default:
			return nil, fmt.Errorf("lab: target at sector %d: %s with %d stripes is neither linear nor striped", t.Start, t.Type, len(t.Stripes))
		}
	}
	return out, nil
}

// LVImage returns the bytes of an LV found by FindLV. An LV that is one run on one PV
// is a range of that PV's image; any other is copied, run by run, into tmpFile
// (sparse: all-zero blocks are skipped).
func LVImage(lv *volume.MappedLV, pvs map[string]VolumeImage, tmpFile string) (VolumeImage, error) {
	pieces, err := lvPieces(lv)
	if err != nil {
		return VolumeImage{}, err
	}
	size := int64(lv.Sectors()) * 512
	if len(pieces) == 1 {
		p, pv := pieces[0], pvs[pieces[0].pv]
		off := int64(p.pvSector) * 512
		if off+size > pv.Size {
			return VolumeImage{}, fmt.Errorf("lab: %s: LV %s ends at byte %d of its PV, which has %d", pv.Path, lv.Name, off+size, pv.Size)
		}
		return VolumeImage{Path: pv.Path, Offset: pv.Offset + off, Size: size}, nil
	}
	out, err := os.OpenFile(tmpFile, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return VolumeImage{}, fmt.Errorf("lab: %w", err)
	}
	defer out.Close()
	if err := out.Truncate(size); err != nil {
		return VolumeImage{}, fmt.Errorf("lab: %w", err)
	}
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	buf := make([]byte, 1<<20)
	zero := make([]byte, 64<<10)
	for _, p := range pieces {
		pv := pvs[p.pv]
		f := files[p.pv]
		if f == nil {
			if f, err = os.Open(pv.Path); err != nil {
				return VolumeImage{}, fmt.Errorf("lab: %w", err)
			}
			files[p.pv] = f
		}
		src, dst, n := pv.Offset+int64(p.pvSector)*512, int64(p.lvSector)*512, int64(p.sectors)*512
		if src+n > pv.Offset+pv.Size {
			return VolumeImage{}, fmt.Errorf("lab: %s: LV %s needs bytes up to %d of its PV, which has %d", pv.Path, lv.Name, src+n-pv.Offset, pv.Size)
		}
		for done := int64(0); done < n; {
			k := min(int64(len(buf)), n-done)
			if _, err := f.ReadAt(buf[:k], src+done); err != nil {
				return VolumeImage{}, fmt.Errorf("lab: %s at %d: %w", pv.Path, src+done, err)
			}
			for b := int64(0); b < k; b += int64(len(zero)) {
				blk := buf[b:min(b+int64(len(zero)), k)]
				if bytes.Equal(blk, zero[:len(blk)]) {
					continue
				}
				if _, err := out.WriteAt(blk, dst+done+b); err != nil {
					return VolumeImage{}, fmt.Errorf("lab: %w", err)
				}
			}
			done += k
		}
	}
	if err := out.Close(); err != nil {
		return VolumeImage{}, fmt.Errorf("lab: %w", err)
	}
	return VolumeImage{Path: tmpFile, Size: size}, nil
}

// AttachLoop attaches the volume to a read-only loop device (losetup -r -o
// --sizelimit) and returns its path and the function that detaches it.
func AttachLoop(ctx context.Context, v VolumeImage) (string, func() error, error) {
	out, err := exec.CommandContext(ctx, "losetup", "-f", "--show", "-r",
		"-o", strconv.FormatInt(v.Offset, 10), "--sizelimit", strconv.FormatInt(v.Size, 10), v.Path).CombinedOutput()
	if err != nil {
		return "", nil, fmt.Errorf("lab: losetup -r -o %d --sizelimit %d %s: %v: %s", v.Offset, v.Size, v.Path, err, bytes.TrimSpace(out))
	}
	dev := strings.TrimSpace(string(out))
	return dev, func() error {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			return fmt.Errorf("lab: losetup -d %s: %v: %s", dev, err, bytes.TrimSpace(out))
		}
		return nil
	}, nil
}
