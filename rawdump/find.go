package rawdump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gokdump/gokdump/format/gpt"
)

// ErrNotFound is wrapped by Find's error when no partition matched before the wait
// ended.
var ErrNotFound = errors.New("rawdump: raw partition not found")

// pollInterval is how often Find looks again while it waits.
const pollInterval = 200 * time.Millisecond

// Find waits up to wait for the partition p describes and returns its device node:
// the partition whose disk's GPT has p.PartUUID as partition p.Number, and whose
// start and size in sysfs are p's. A partition with that GUID but another extent is
// refused (the table changed after arming: writing there could hit another
// partition's data).
func (r Roots) Find(ctx context.Context, p *Partition, wait time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		dev, err := r.findOnce(p)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return dev, err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: no partition with PARTUUID %s after %s (%v)", ErrNotFound, p.PartUUID, wait, err)
		case <-time.After(pollInterval):
		}
	}
}

func (r Roots) findOnce(p *Partition) (string, error) {
	var found []string
	var changed error
	err := r.eachPartition(func(name, disk string, number int, t *gpt.Table) {
		e := t.Partition(p.PartUUID)
		if e == nil || e.Number != number {
			return
		}
		start, err1 := r.sysInt(filepath.Join(r.Sys, "class/block", name, "start"))
		sectors, err2 := r.sysInt(filepath.Join(r.Sys, "class/block", name, "size"))
		if err1 != nil || err2 != nil || start != p.Start || sectors*512 != p.Size {
			changed = fmt.Errorf("partition %s has PARTUUID %s but starts at sector %d with %d bytes, not sector %d with %d bytes as when kdump was armed: refusing to write (re-run gokdump start)",
				name, p.PartUUID, start, sectors*512, p.Start, p.Size)
			return
		}
		found = append(found, name)
	})
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	switch {
	case len(found) == 1:
		return filepath.Join(r.Dev, devName(r.Sys, found[0])), nil
	case len(found) > 1:
		return "", fmt.Errorf("rawdump: PARTUUID %s is on several partitions (%s): refusing to guess", p.PartUUID, strings.Join(found, ", "))
	case changed != nil:
		return "", changed
	}
	return "", fmt.Errorf("%w: no partition has PARTUUID %s", ErrNotFound, p.PartUUID)
}

// devName is the device node's name under /dev (DEVNAME of the uevent file, which
// differs from the sysfs name for e.g. cciss!c0d0p1).
func devName(sys, name string) string {
	data, err := os.ReadFile(filepath.Join(sys, "class/block", name, "uevent"))
	if err == nil && len(data) < 64<<10 {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "DEVNAME="); ok && filepath.IsLocal(v) {
				return v
			}
		}
	}
	return strings.ReplaceAll(name, "!", "/")
}

// Device is an open raw partition (an *os.File).
type Device interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Close() error
}

// Target is the raw partition in the capture kernel.
type Target struct {
	Partition *Partition
	Roots     Roots
	Wait      time.Duration
}

func (t *Target) String() string { return "raw " + t.Partition.String() }

// Open finds the partition (waiting up to t.Wait), opens it for writing and checks
// its size and that no file system appeared on it since arming.
func (t *Target) Open(ctx context.Context) (Device, int64, error) {
	path, err := t.Roots.Find(ctx, t.Partition, t.Wait)
	if err != nil {
		return nil, 0, err
	}
	return OpenDevice(path, t.Partition.Size)
}

// OpenDevice opens the raw partition (or a file standing in for it) at path for
// reading and writing; want is its size recorded at arming (0: not checked). It
// refuses one that holds a file system.
func OpenDevice(path string, want int64) (Device, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err == nil && want > 0 && size != want {
		err = fmt.Errorf("rawdump: %s has %d bytes, %d when kdump was armed: refusing to write", path, size, want)
	}
	if err == nil {
		err = CheckNoFilesystem(f, path)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, size, nil
}
