package lab

import (
	"bytes"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

// TestDmesgRealCrash: "gokdump dmesg" prints, byte for byte, what kexec-tools'
// vmcore-dmesg prints for each real crash, and the log ends with the crash itself.
func TestDmesgRealCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	vmd := testenv.NeedTool(t, "vmcore-dmesg", "kexec-tools")
	for _, v := range labVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			res := crashFor(t, v)
			want := run(t, vmd, res.Vmcore)
			got := run(t, guestGokdump(t), "dmesg", res.Vmcore)
			if !bytes.Equal(got, want) {
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Errorf("gokdump dmesg differs from vmcore-dmesg at byte %d (%d vs %d bytes):\n ours %q\n want %q",
					i, len(got), len(want), got[i:min(len(got), i+120)], want[i:min(len(want), i+120)])
			}
			if !bytes.Contains(got, []byte("sysrq: Trigger a crash")) {
				t.Errorf("the log does not show the sysrq crash:\n%s", got[max(0, len(got)-2000):])
			}
		})
	}
}
