package capture

import (
	"testing"

	"github.com/gokdump/gokdump/target"
)

func TestTargetFor(t *testing.T) {
	tg, err := TargetFor(parseConf(t, "ext4 LABEL=gokdump-dumps\n"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	l, ok := tg.(*target.Local)
	if !ok || l.FSType != "ext4" || l.Device != (target.Device{Label: "gokdump-dumps"}) || l.Wait != TargetWait {
		t.Errorf("ext4 LABEL=: %#v", tg)
	}
	// The builder's device wins (for the root file system it is the only source).
	tg, err = TargetFor(parseConf(t, "path /var/crash\n"), "xfs", "UUID=0e1d2c3b-4a59-6877-8695-a4b3c2d1e0ff")
	if err != nil {
		t.Fatal(err)
	}
	if l := tg.(*target.Local); l.FSType != "xfs" || l.Device.UUID != "0e1d2c3b-4a59-6877-8695-a4b3c2d1e0ff" {
		t.Errorf("rootfs: %#v", l)
	}
	for _, conf := range []string{"path /var/crash\n", "ssh kdump@example.org\nsshkey /root/.ssh/kdump_id_rsa\ncore_collector makedumpfile -F -l -d 31\n", "raw /dev/vdc\ncore_collector makedumpfile -F -l -d 31\n"} {
		if tg, err := TargetFor(parseConf(t, conf), "", ""); err == nil {
			t.Errorf("%q: %v, want an error", conf, tg)
		}
	}
}
