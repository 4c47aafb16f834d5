package volume

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
)

// memKernel is a Kernel over in-memory or file-backed images: it lists the devices it
// was given, "assembles" a RAID1 array as the data area of its freshest member and
// records the dm tables it is asked to map instead of creating devices.
type memKernel struct {
	mu      sync.Mutex
	devs    []BlockDevice
	data    map[string]io.ReaderAt // by device name
	arrays  []string               // names of arrays assembled, in order
	members map[string][]string    // array name -> member names handed in
	mapped  map[string][]DMTarget  // dm name -> table
	uuids   map[string]string      // dm name -> dm uuid
	appear  map[string]int         // device name -> BlockDevices call from which it is listed
	calls   int
}

func newMemKernel() *memKernel {
	return &memKernel{data: map[string]io.ReaderAt{}, members: map[string][]string{},
		mapped: map[string][]DMTarget{}, uuids: map[string]string{}, appear: map[string]int{}}
}

// add lists a device named name (major:minor as given) holding data.
func (k *memKernel) add(name string, major, minor uint32, data io.ReaderAt) {
	k.devs = append(k.devs, BlockDevice{Name: name, Path: "/mem/" + name, Major: major, Minor: minor})
	k.data[name] = data
}

func (k *memKernel) BlockDevices() ([]BlockDevice, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls++
	var out []BlockDevice
	for _, d := range k.devs {
		if k.calls >= k.appear[d.Name] {
			out = append(out, d)
		}
	}
	return out, nil
}

type nopCloser struct{ io.ReaderAt }

func (nopCloser) Close() error { return nil }

func (k *memKernel) Open(d BlockDevice) (ReadAtCloser, error) {
	r, ok := k.data[d.Name]
	if !ok {
		return nil, os.ErrNotExist
	}
	return nopCloser{r}, nil
}

func (k *memKernel) AssembleArray(a *Array, members []BlockDevice) (BlockDevice, error) {
	var best *Superblock
	var bestName string
	for _, m := range members {
		sb, err := ReadSuperblock(k.data[m.Name])
		if err != nil {
			return BlockDevice{}, err
		}
		if best == nil || sb.Events > best.Events {
			best, bestName = sb, m.Name
		}
		k.members["md"+fmt.Sprint(a.Minor)] = append(k.members["md"+fmt.Sprint(a.Minor)], m.Name)
	}
	name := fmt.Sprintf("md%d", a.Minor)
	d := BlockDevice{Name: name, Path: "/mem/" + name, Major: mdMajor, Minor: a.Minor}
	k.devs = append(k.devs, d)
	k.data[name] = io.NewSectionReader(k.data[bestName], int64(best.DataOffset)*sectorSize, int64(best.DataSize)*sectorSize)
	k.arrays = append(k.arrays, name)
	return d, nil
}

func (k *memKernel) MapLV(name, uuid string, table []DMTarget) (string, error) {
	k.mapped[name] = table
	k.uuids[name] = uuid
	return "/dev/mapper/" + name, nil
}

// tableStrings prints a dm table as dmsetup table does.
func tableStrings(ts []DMTarget) []string {
	var out []string
	for _, t := range ts {
		out = append(out, fmt.Sprintf("%d %d %s %s", t.Start, t.Length, t.Type, t.Params))
	}
	return out
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var _ = bytes.NewReader
