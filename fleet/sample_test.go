package fleet

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestClaimFullDump: the first k crashes of a signature in id order keep their dumps,
// whatever order they are uploaded in; a later crash that finds its places taken
// withdraws its marker; a repeated claim keeps its decision.
func TestClaimFullDump(t *testing.T) {
	ctx := context.Background()
	d := Dir{Root: t.TempDir()}
	id := func(min int) string { return IDFor(time.Date(2026, 12, 7, 4, min, 0, 0, time.UTC), "0123456789ab") }
	const sig = "42f2dab38b2a4ef8"
	claim := func(i string) bool {
		t.Helper()
		ok, err := ClaimFullDump(ctx, d, "p", sig, i, 2)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim(id(30)) || !claim(id(40)) {
		t.Fatal("the first two crashes of a signature were sampled")
	}
	if claim(id(50)) {
		t.Error("a third crash kept its dump with k=2")
	}
	// An earlier crash uploaded late: its marker ranks first, so it keeps its dump;
	// the crash at :40 now ranks third and a repeat of its claim gives its place up.
	if !claim(id(10)) {
		t.Error("an earlier crash uploaded late was sampled")
	}
	if claim(id(40)) {
		t.Error("the crash pushed to third place still keeps its dump")
	}
	var markers []string
	d.List(ctx, SignaturePrefix("p", sig), func(oi ObjectInfo) error {
		markers = append(markers, oi.Key[strings.LastIndex(oi.Key, "/")+1:])
		return nil
	})
	if strings.Join(markers, " ") != id(10)+" "+id(30) {
		t.Errorf("markers %q, want the two earliest", markers)
	}
	if ok, err := ClaimFullDump(ctx, d, "p", "", id(50), 2); !ok || err != nil {
		t.Errorf("no signature: %v %v, want kept", ok, err)
	}
	if ok, err := ClaimFullDump(ctx, d, "p", sig, id(50), 0); !ok || err != nil {
		t.Errorf("sampling off: %v %v, want kept", ok, err)
	}
}
