package lab

import (
	"strings"
	"testing"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/internal/testenv"
)

// TestServiceOutOfMemory: a capture kernel that runs short of memory for the collector
// says so on the console and in the status file, with the reservation and what to do,
// and takes failure_action, instead of dying silently. The 160 MiB reservation boots
// the capture kernel; the test-only GOKDUMP_CAPTURE_MEMORY_FLOOR_MIB (on the capture
// command line through kdump_commandline_append: the kernel hands it to init as its
// environment) makes the capture keep 1000 MiB free, so it behaves as a reservation
// far too small for the default configuration.
func TestServiceOutOfMemory(t *testing.T) {
	t.Parallel()
	r := runService(t, serviceCase{
		name: "service-oom", kernel: testenv.Kernel61, crashMiB: 160, diskMiB: 64,
		conf: "ext4 LABEL=" + dumpLabel + "\nkdump_commandline_append GOKDUMP_CAPTURE_MEMORY_FLOOR_MIB=1000\n" +
			"final_action reboot\nfailure_action poweroff\n",
	})
	const msg = "out of memory in the capture kernel: reservation 160 MiB, raise crashkernel= (\"gokdump estimate\" recommends a size)"
	// The watch says it when it stops the collector; the flow again as the capture's
	// end ("capture failed: ..." or, when some of the dump was written, "the dump is
	// incomplete: ...").
	r.wantConsole(t, "gokdump: "+msg+": MemAvailable ", ": "+msg, "gokdump: action: poweroff")
	dir, _ := r.dumpDir(t)
	st := readStatus(t, dir)
	if (st.Result != dumpdir.Failed && st.Result != dumpdir.Incomplete) || !strings.HasPrefix(st.Error, msg) || st.Action != "poweroff" {
		t.Errorf("status %+v", st)
	}
}
