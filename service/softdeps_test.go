package service

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestSoftDepCandidates(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "modules.alias")
	os.WriteFile(p, []byte("# Aliases\nalias crypto-crc32c crc32c_generic\nalias crypto-crc32c crc32c-intel\nalias pci:v00001AF4d* virtio_pci\nalias fs-ext4 ext4\n"), 0o644)
	aliases := readModulesAlias(p)
	if _, wild := aliases["pci:v00001AF4d*"]; wild {
		t.Error("device alias read")
	}
	for _, tc := range []struct {
		dep     string
		aliases map[string][]string
		want    []string
	}{
		{"crc32c", aliases, []string{"crc32c_generic", "crc32c_intel"}},
		{"crypto-crc32c", aliases, []string{"crc32c_generic", "crc32c_intel"}},
		{"crc32c", nil, []string{"crc32c", "crc32c_generic"}},
		{"xxhash64", nil, []string{"xxhash64", "xxhash64_generic", "xxhash_generic"}},
		{"blake2b-256", nil, []string{"blake2b_256", "blake2b_256_generic", "blake2b_generic"}},
	} {
		if got := softDepCandidates(tc.dep, tc.aliases); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.dep, got, tc.want)
		}
	}
	if got := readModulesAlias(filepath.Join(dir, "none")); len(got) != 0 {
		t.Errorf("missing file: %v", got)
	}
}
