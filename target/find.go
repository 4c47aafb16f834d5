package target

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Device names a block device the way kdump.conf and fstab do.
type Device struct {
	Path  string // "/dev/vdb": the device node itself
	Label string // LABEL=...: the file system's volume label
	UUID  string // UUID=...: the file system's UUID
}

func (d Device) String() string {
	switch {
	case d.Label != "":
		return "LABEL=" + d.Label
	case d.UUID != "":
		return "UUID=" + d.UUID
	}
	return d.Path
}

// ParseDevice reads a device specification: a /dev path, LABEL=name or UUID=uuid
// (quotes around the value are removed, as blkid's output has them). The udev links
// /dev/disk/by-label/X and /dev/disk/by-uuid/X become LABEL=X and UUID=X, since a
// capture initramfs has no udev to make them.
func ParseDevice(s string) (Device, error) {
	key, val, ok := strings.Cut(s, "=")
	if ok && !strings.HasPrefix(s, "/") {
		val = unquote(val)
		if val == "" {
			return Device{}, fmt.Errorf("target: %q: empty %s", s, key)
		}
		switch strings.ToUpper(key) {
		case "LABEL":
			return Device{Label: val}, nil
		case "UUID":
			return Device{UUID: val}, nil
		}
		return Device{}, fmt.Errorf("target: %q: unsupported device form %s= (want a /dev path, LABEL= or UUID=)", s, key)
	}
	if !strings.HasPrefix(s, "/dev/") || filepath.Clean(s) != s {
		return Device{}, fmt.Errorf("target: %q: want a /dev path, LABEL= or UUID=", s)
	}
	if l, ok := strings.CutPrefix(s, "/dev/disk/by-label/"); ok {
		return Device{Label: udevUnescape(l)}, nil
	}
	if u, ok := strings.CutPrefix(s, "/dev/disk/by-uuid/"); ok {
		return Device{UUID: udevUnescape(u)}, nil
	}
	if strings.HasPrefix(s, "/dev/disk/") {
		return Device{}, fmt.Errorf("target: %q: only by-label and by-uuid links can be resolved without udev", s)
	}
	return Device{Path: s}, nil
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// udevUnescape undoes udev's \xNN escaping of characters in by-label link names
// (a label "my disk" is the link "my\x20disk").
func udevUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ErrNotFound is wrapped by Find's error when no device matched before the wait ended.
var ErrNotFound = errors.New("target: device not found")

// maxBlockDevices bounds how many entries of /sys/class/block one scan looks at.
const maxBlockDevices = 4096

// pollInterval is how often Find looks again while it waits.
const pollInterval = 200 * time.Millisecond

// Find waits up to wait for the device d to appear and returns its /dev path.
func Find(ctx context.Context, d Device, wait time.Duration) (string, error) {
	return findIn(ctx, d, wait, "/sys/class/block", "/dev")
}

// findIn is Find with the sysfs class directory and the device directory given, so
// tests can use a temp dir of image files.
func findIn(ctx context.Context, d Device, wait time.Duration, sysClassBlock, devDir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		dev, err := findOnce(d, sysClassBlock, devDir)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return dev, err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: no %s after %s", ErrNotFound, d, wait)
		case <-time.After(pollInterval):
		}
	}
}

func findOnce(d Device, sysClassBlock, devDir string) (string, error) {
	if d.Path != "" {
		// The path is relative to the real /dev; tests put their devices elsewhere.
		p := filepath.Join(devDir, strings.TrimPrefix(d.Path, "/dev/"))
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrNotFound, d.Path, err)
		}
		return p, nil
	}
	f, err := os.Open(sysClassBlock)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	names, err := f.Readdirnames(maxBlockDevices)
	f.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("target: %s: %w", sysClassBlock, err)
	}
	var match []string
	for _, name := range names {
		node := filepath.Join(devDir, devName(filepath.Join(sysClassBlock, name), name))
		sb, err := probeFile(node)
		if err != nil {
			continue // not ours, unreadable, or a device without media
		}
		if (d.Label != "" && sb.Label == d.Label) || (d.UUID != "" && sameUUID(sb.UUID, d.UUID)) {
			match = append(match, node)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("%w: no file system with %s among %d block devices", ErrNotFound, d, len(names))
	case 1:
		return match[0], nil
	}
	return "", fmt.Errorf("target: %s is ambiguous: %s all have it", d, strings.Join(match, ", "))
}

// devName is the device node's name under /dev: DEVNAME from the device's uevent file
// (it differs from the sysfs name for e.g. cciss!c0d0 -> cciss/c0d0), else the sysfs name.
func devName(sysDir, name string) string {
	f, err := os.Open(filepath.Join(sysDir, "uevent"))
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "DEVNAME="); ok && filepath.IsLocal(v) {
				return v
			}
		}
	}
	return strings.ReplaceAll(name, "!", "/")
}

func probeFile(path string) (*Superblock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Probe(f, path)
}

// ProbeFile reads the superblock of the device or image file at path.
func ProbeFile(path string) (*Superblock, error) {
	sb, err := probeFile(path)
	if err != nil && !errors.Is(err, ErrUnknown) {
		return nil, fmt.Errorf("target: %w", err)
	}
	return sb, err
}
