package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/lab/plan"
)

func TestDiskBySerial(t *testing.T) {
	sys := t.TempDir()
	for dev, serial := range map[string]string{"vda": plan.DiskFacts + "\n", "vdb": plan.DiskVmcore, "loop0": ""} {
		if err := os.MkdirAll(filepath.Join(sys, dev), 0o755); err != nil {
			t.Fatal(err)
		}
		if serial != "" {
			if err := os.WriteFile(filepath.Join(sys, dev, "serial"), []byte(serial), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for serial, want := range map[string]string{plan.DiskFacts: "vda", plan.DiskVmcore: "vdb"} {
		if got, err := diskBySerial(sys, serial); err != nil || got != want {
			t.Errorf("diskBySerial(%q) = %q, %v; want %q", serial, got, err, want)
		}
	}
	if got, err := diskBySerial(sys, "gokdump-none"); err == nil {
		t.Errorf("diskBySerial(unknown) = %q, want an error", got)
	}
}

func TestFillPage(t *testing.T) {
	a, b := make([]byte, 4096), make([]byte, 4096)
	fillPage(a, plan.MarkerAnon, 7)
	fillPage(b, plan.MarkerAnon, 8)
	if !bytes.HasPrefix(a, []byte(plan.MarkerAnon+"7\n")) {
		t.Errorf("page starts with %q", a[:32])
	}
	if bytes.Equal(a, b) || bytes.Count(a, []byte{0}) > 32 {
		t.Error("pages are equal or mostly zero")
	}
}

// TestTarDisk writes an archive the way the guest writes its disks, onto a file that
// stands for the disk, and reads it back the way the host does.
func TestTarDisk(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "disk")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := openTarDisk(disk)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("vmcore"), 50000)
	if err := d.addBytes(plan.VmcoreCmdline, []byte("elfcorehdr=0x4f000000")); err != nil {
		t.Fatal(err)
	}
	if err := d.add(plan.VmcoreFile, int64(len(big)), struct{ io.Reader }{bytes.NewReader(big)}); err != nil {
		t.Fatal(err)
	}
	if err := d.close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == plan.VmcoreFile && !bytes.Equal(data, big) {
			t.Error("vmcore member differs")
		}
	}
	if strings.Join(names, ",") != "cmdline,vmcore" {
		t.Errorf("members %q", names)
	}

	// A source shorter than announced is an error, not a silently short member.
	d, err = openTarDisk(disk)
	if err != nil {
		t.Fatal(err)
	}
	err = d.add(plan.VmcoreFile, 100, bytes.NewReader(make([]byte, 50)))
	if err == nil {
		err = d.close()
	} else {
		d.close()
	}
	if err == nil {
		t.Error("short vmcore: no error")
	}
}

func TestRefusesOtherPIDs(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(t.Context(), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "PID 1") || out.Len() != 0 {
		t.Errorf("labinit as PID %d: code %d, stdout %q, stderr %q", os.Getpid(), code, out.String(), errb.String())
	}
}
