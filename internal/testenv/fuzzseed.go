package testenv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCorpusFile encodes the arguments of one fuzz input in `go test fuzz v1` form.
// It supports the argument types the project's fuzz targets take.
func FuzzCorpusFile(args ...any) []byte {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		case uint64:
			fmt.Fprintf(&b, "uint64(%d)\n", v)
		case uint8:
			fmt.Fprintf(&b, "uint8(%d)\n", v)
		case int:
			fmt.Fprintf(&b, "int(%d)\n", v)
		default:
			panic(fmt.Sprintf("testenv: unsupported fuzz corpus type %T", a))
		}
	}
	return []byte(b.String())
}

// CheckFuzzSeeds keeps a package's testdata/fuzz/TARGET/NAME files equal to the seeds
// its own writers make today (corpora maps target -> seed name -> fuzz arguments): with
// update it rewrites them, otherwise a missing or stale file fails the test with regen,
// the command that rewrites them.
func CheckFuzzSeeds(t *testing.T, corpora map[string]map[string][]any, update bool, regen string) {
	t.Helper()
	for target, seeds := range corpora {
		dir := filepath.Join("testdata", "fuzz", target)
		if update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, args := range seeds {
			path := filepath.Join(dir, name)
			want := FuzzCorpusFile(args...)
			if update {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s is missing or stale (%v); run: %s", path, err, regen)
			}
		}
	}
}
