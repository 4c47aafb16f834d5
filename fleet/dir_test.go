package fleet

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDirStore(t *testing.T) {
	ctx := context.Background()
	d := Dir{Root: t.TempDir()}
	id := IDFor(time.Date(2026, 12, 7, 3, 4, 5, 0, time.UTC), "0123456789ABCDEF0123")
	if id != "20261207T030405Z-0123456789ab" || !ValidID(id) {
		t.Fatalf("IDFor = %q", id)
	}
	key := Key("", id, DmesgObject)
	if err := d.Put(ctx, key, strings.NewReader("log"), 3); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, Key("", id, MetaObject), strings.NewReader("{}"), 5); err == nil {
		t.Fatal("Put with a wrong size succeeded")
	}
	fi, err := os.Stat(filepath.Join(d.Root, "crashes", id, DmesgObject))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("object file: %v %v, want mode 0600", fi, err)
	}
	di, _ := os.Stat(filepath.Join(d.Root, "crashes", id))
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v, want 0700", di.Mode().Perm())
	}
	rc, err := d.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "log" {
		t.Fatalf("Get = %q", b)
	}
	if _, err := d.Stat(ctx, Key("", id, MetaObject)); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Stat of a missing key: %v, want ErrNotExist", err)
	}
	var got []string
	if err := d.List(ctx, CrashesPrefix(""), func(o ObjectInfo) error { got = append(got, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != key {
		t.Fatalf("List = %q, want [%q] (no temporary files)", got, key)
	}
	if err := d.List(ctx, "signatures/x/", func(ObjectInfo) error { t.Fatal("listed"); return nil }); err != nil {
		t.Fatalf("List of a missing prefix: %v", err)
	}
	for _, bad := range []string{"../x", "/etc/passwd", "a/../../b", ""} {
		if err := d.Put(ctx, bad, strings.NewReader(""), 0); err == nil {
			t.Errorf("Put(%q) succeeded", bad)
		}
	}
	if err := d.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, key); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestReadRecord(t *testing.T) {
	ctx := context.Background()
	d := Dir{Root: t.TempDir()}
	for _, c := range []struct{ body, want string }{
		{`{"schema":1,"id":"20261207T030405Z-0123456789ab"}`, ""},
		{`{"schema":2,"id":"x"}`, "schema 2"},
		{`{"schema":1,"id":"../x"}`, "not a crash id"},
		{`not json`, "not a crash record"},
	} {
		if err := d.Put(ctx, "m.json", strings.NewReader(c.body), -1); err != nil {
			t.Fatal(err)
		}
		_, err := ReadRecord(ctx, d, "m.json")
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: err %v, want %q", c.body, err, c.want)
		}
	}
}

// TestDirNoEscape: a link planted in the store that points out of it is not served.
func TestDirNoEscape(t *testing.T) {
	ctx := context.Background()
	d := Dir{Root: t.TempDir()}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("root's secret"), 0o600)
	os.MkdirAll(filepath.Join(d.Root, "crashes", "x"), 0o700)
	if err := os.Symlink(secret, filepath.Join(d.Root, "crashes", "x", DumpObject)); err != nil {
		t.Fatal(err)
	}
	if rc, err := d.Get(ctx, Key("", "x", DumpObject)); err == nil {
		rc.Close()
		t.Error("Get followed a link out of the store")
	}
	if _, err := d.Stat(ctx, Key("", "x", DumpObject)); err == nil {
		t.Error("Stat followed a link out of the store")
	}
}
