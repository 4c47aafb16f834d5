package service

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

type kexecCall struct{ op, kernel, initrd, cmdline string }

type fakeKexec struct {
	calls []kexecCall
	err   error
}

func (k *fakeKexec) LoadCrash(kernel, initrd, cmdline string) error {
	k.calls = append(k.calls, kexecCall{"load", kernel, initrd, cmdline})
	return k.err
}

func (k *fakeKexec) UnloadCrash() error {
	k.calls = append(k.calls, kexecCall{op: "unload"})
	return k.err
}

// setKexecFiles writes the sysfs kexec files: old (kernel/kexec_crash_*), new
// (kernel/kexec/*) or both.
func (m *fakeMachine) setKexecFiles(layout string, loaded bool, size int64) {
	os.RemoveAll(m.path("sys/kernel"))
	l := "0"
	if loaded {
		l = "1"
	}
	sz := strconv.FormatInt(size, 10)
	if layout == "old" || layout == "both" {
		m.write("sys/kernel/kexec_crash_loaded", l+"\n")
		m.write("sys/kernel/kexec_crash_size", sz+"\n")
		m.write("sys/kernel/kexec_loaded", "0\n")
	}
	if layout == "new" || layout == "both" {
		m.write("sys/kernel/kexec/crash_loaded", l+"\n")
		m.write("sys/kernel/kexec/crash_size", sz+"\n")
		m.write("sys/kernel/kexec/crash_elfcorehdr_size", "4096\n")
		m.write("sys/kernel/kexec/loaded", "0\n")
	}
}

func TestStartWithoutReservation(t *testing.T) {
	m := newFakeMachine(t)
	k := &fakeKexec{}
	m.Kexec = k
	m.setKexecFiles("old", false, 0)
	m.write("proc/cmdline", "root=/dev/vda1 ro\n")
	_, err := m.Start(StartOptions{Config: mustConfig(t, "")})
	if !errors.Is(err, ErrNoReservation) || !strings.Contains(err.Error(), "add crashkernel=256M") {
		t.Errorf("no crashkernel=: %v", err)
	}
	// crashkernel= given but nothing reserved: a different fix.
	m.write("proc/cmdline", "root=/dev/vda1 crashkernel=64G\n")
	_, err = m.Start(StartOptions{Config: mustConfig(t, "")})
	if !errors.Is(err, ErrNoReservation) || !strings.Contains(err.Error(), "crashkernel=64G but reserved nothing") {
		t.Errorf("crashkernel= not honoured: %v", err)
	}
	if len(k.calls) != 0 {
		t.Errorf("kexec called: %+v", k.calls)
	}
	// A kernel without crash dump support.
	os.RemoveAll(m.path("sys/kernel"))
	if _, err := m.Start(StartOptions{Config: mustConfig(t, "")}); err == nil || !strings.Contains(err.Error(), "no crash dump support") {
		t.Errorf("no kexec files: %v", err)
	}
}

// armableMachine is a fake machine with 256 MiB reserved and a kexec that records
// its calls.
func armableMachine(t *testing.T) (*fakeMachine, *fakeKexec) {
	m := newFakeMachine(t)
	k := &fakeKexec{}
	m.Kexec = k
	m.setKexecFiles("new", false, 256<<20)
	m.write("proc/sys/kernel/panic_on_oops", "0\n")
	return m, k
}

func TestStart(t *testing.T) {
	m, k := armableMachine(t)
	conf := "ext4 /dev/vdb\n"
	opts := StartOptions{Config: mustConfig(t, conf), ConfigData: []byte(conf), Self: m.path("usr/sbin/gokdump")}
	res, err := m.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	img := m.path("var/lib/gokdump/initramfs-" + testRelease + ".img")
	if !res.Rebuilt || res.Image != img || res.Kernel != m.path("boot/vmlinuz-"+testRelease) || res.Reserved != 256<<20 {
		t.Errorf("result %+v", res)
	}
	if len(k.calls) != 1 || k.calls[0] != (kexecCall{"load", res.Kernel, img, res.Cmdline}) {
		t.Fatalf("kexec calls %+v", k.calls)
	}
	for _, want := range []string{"root=UUID=1234", "nr_cpus=1", "reset_devices", "rdinit=/init"} {
		if !strings.Contains(" "+res.Cmdline+" ", " "+want+" ") {
			t.Errorf("capture command line %q lacks %s", res.Cmdline, want)
		}
	}
	for _, gone := range []string{"crashkernel", "BOOT_IMAGE", "quiet"} {
		if strings.Contains(res.Cmdline, gone) {
			t.Errorf("capture command line %q keeps %s", res.Cmdline, gone)
		}
	}
	if data, _ := os.ReadFile(m.path("proc/sys/kernel/panic_on_oops")); string(data) != "1\n" {
		t.Errorf("panic_on_oops = %q", data)
	}
	if _, err := os.Stat(filepath.Join(m.StateDir, armedFile)); err != nil {
		t.Errorf("no arming record: %v", err)
	}

	// Again: the image is reused.
	res, err = m.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rebuilt {
		t.Errorf("rebuilt without a change: %s", res.RebuildReason)
	}
	// A changed configuration rebuilds it.
	conf2 := conf + "final_action halt\n"
	opts.Config, opts.ConfigData = mustConfig(t, conf2), []byte(conf2)
	if res, err = m.Start(opts); err != nil || !res.Rebuilt || res.RebuildReason != "the configuration changed" {
		t.Errorf("after a config change: %+v %v", res, err)
	}
	// The kernel's refusal is passed on.
	k.err = errors.New("EPERM")
	if _, err := m.Start(opts); err == nil || err.Error() != "EPERM" {
		t.Errorf("load error: %v", err)
	}
	k.err = nil
	if err := m.Stop(); err != nil || k.calls[len(k.calls)-1].op != "unload" {
		t.Errorf("Stop: %v %+v", err, k.calls)
	}
	// --kernel and a missing kernel.
	os.Remove(m.path("boot/vmlinuz-" + testRelease))
	if _, err := m.Start(opts); err == nil || !strings.Contains(err.Error(), "--kernel") {
		t.Errorf("missing kernel: %v", err)
	}
	m.write("lab/bzImage", "k")
	opts.Kernel = m.path("lab/bzImage")
	if res, err := m.Start(opts); err != nil || res.Kernel != opts.Kernel {
		t.Errorf("--kernel: %+v %v", res, err)
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		layout string
		loaded bool
	}{{"old", false}, {"old", true}, {"new", false}, {"new", true}, {"both", true}} {
		m := newFakeMachine(t)
		m.setKexecFiles(tc.layout, tc.loaded, 192<<20)
		st, err := m.ReadStatus(mustConfig(t, "path /var/crash"))
		if err != nil {
			t.Fatalf("%s: %v", tc.layout, err)
		}
		if st.CrashLoaded != tc.loaded || st.CrashSize != 192<<20 || !st.BootTime.Equal(time.Unix(1700000000, 0)) {
			t.Errorf("%s loaded=%v: %+v", tc.layout, tc.loaded, st)
		}
		if (tc.layout == "new") != (st.ElfcorehdrSize == 4096) && tc.layout != "both" {
			t.Errorf("%s: elfcorehdr size %d", tc.layout, st.ElfcorehdrSize)
		}
	}
}

func TestStatusDumps(t *testing.T) {
	m := newFakeMachine(t)
	m.setKexecFiles("old", true, 256<<20)
	dumps := m.path("srv/crash")
	cfg := mustConfig(t, "path "+dumps)
	// Path on the root file system (ext4 vda1) is read directly.
	mkdump := func(name string, complete bool) {
		f := "vmcore-incomplete"
		if complete {
			f = "vmcore"
		}
		m.write(strings.TrimPrefix(filepath.Join(dumps, name, f), m.root+"/"), "dump")
	}
	mkdump("host-2023-11-10-10:00:00", true)  // before the previous arming
	mkdump("host-2023-11-14-20:00:00", false) // after it: new
	m.write(strings.TrimPrefix(filepath.Join(dumps, "lost+found", "x"), m.root+"/"), "")

	// Without an arming record, only dumps after this boot (2023-11-14 22:13:20 UTC) count.
	st, err := m.ReadStatus(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.DumpDir != dumps || len(st.Dumps) != 2 || len(st.New) != 0 {
		t.Errorf("no record: dir %q dumps %d new %d", st.DumpDir, len(st.Dumps), len(st.New))
	}
	// Armed in the previous boot on 2023-11-12: the later dump is new.
	m.write("var/lib/gokdump/armed.json", `{"boot_time": 1699700000, "armed_at": 1699790000}`)
	st, err = m.ReadStatus(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.New) != 1 || !strings.HasSuffix(st.New[0].Dir, "host-2023-11-14-20:00:00") || st.Since.Unix() != 1699790000 {
		t.Errorf("with a record: new %+v since %v", st.New, st.Since)
	}
	// Arming again in this boot keeps the previous boot's record.
	if err := m.recordArming(armingRecord{ArmedAt: 1700000100}); err != nil {
		t.Fatal(err)
	}
	if st, err = m.ReadStatus(cfg); err != nil || len(st.New) != 1 || st.Since.Unix() != 1699790000 {
		t.Errorf("after re-arming: %+v %v", st, err)
	}

	// A file system target that is not mounted: said so, no error.
	st, err = m.ReadStatus(mustConfig(t, "ext4 /dev/vdb"))
	if err != nil || st.DumpDir != "" || !strings.Contains(st.DumpDirNote, "not mounted") {
		t.Errorf("unmounted target: %+v %v", st, err)
	}
	// Mounted: found under its mount point.
	m.write("proc/self/mountinfo", "21 1 253:1 / / rw - ext4 /dev/vda1 rw\n30 21 253:16 / /mnt/dumps rw - ext4 /dev/vdb rw\n")
	if st, err = m.ReadStatus(mustConfig(t, "ext4 /dev/vdb\npath /crash")); err != nil || st.DumpDir != "/mnt/dumps/crash" {
		t.Errorf("mounted target: %+v %v", st, err)
	}
	if st, err = m.ReadStatus(mustConfig(t, "ssh a@b\ncore_collector makedumpfile -F")); err != nil || !strings.Contains(st.DumpDirNote, "ssh target") {
		t.Errorf("ssh target: %+v %v", st, err)
	}
}

func TestComputeEstimate(t *testing.T) {
	e := ComputeEstimate(EstimateInputs{Kernel: 40 << 20, ImageCompressed: 10 << 20, ImageUnpacked: 25 << 20, Modules: 3 << 20, Memory: 4 << 30})
	// 40+10+25+3 measured, 8 runtime, 16 collector, 32 margin, 4 x 64 KiB per GiB.
	if e.Total != (40+10+25+3+8+16+32)<<20+4*64<<10 || e.MemoryCost != 256<<10 || e.Recommended != 144<<20 || e.Crashkernel() != "crashkernel=144M" {
		t.Errorf("%+v %s", e, e.Crashkernel())
	}
	// Exactly on a 16 MiB boundary stays there; memory rounds up to whole GiB.
	if e := ComputeEstimate(EstimateInputs{Kernel: 40<<20 - 64<<10, Memory: 1 << 30}); e.Recommended != 96<<20 {
		t.Errorf("boundary: %d", e.Recommended>>20)
	}
	if e := ComputeEstimate(EstimateInputs{Kernel: 40<<20 - 64<<10, Memory: 1<<30 + 1}); e.Recommended != 112<<20 {
		t.Errorf("one byte over 1 GiB: %d", e.Recommended>>20)
	}
	// For recomputes the memory part only: 134 MiB + 1024 x 64 KiB, rounded up.
	if got := e.For(1 << 40); got != 208<<20 {
		t.Errorf("For(1 TiB) = %d MiB", got>>20)
	}
	// s3_capture holds a multipart part, counted twice, for a dump as large as the
	// memory: 8 MiB parts up to 16 GB, then 16 MiB, ... (fleet.StreamBuffer).
	up := ComputeEstimate(EstimateInputs{Kernel: 40<<20 - 64<<10, Memory: 4 << 30, UploadPart: 8 << 20})
	if up.Upload != 16<<20 || up.Total != (40<<20-64<<10)+8<<20+16<<20+32<<20+4*64<<10+16<<20 {
		t.Errorf("s3_capture at 4 GiB: upload %d MiB, total %d", up.Upload>>20, up.Total)
	}
	if up := ComputeEstimateFrom(Estimate{UploadPart: 8 << 20, Memory: 64 << 30, PerGiB: estimatePerGiB}); up.Upload != 2*32<<20 {
		t.Errorf("s3_capture at 64 GiB: upload %d MiB, want 2 x 32 MiB", up.Upload>>20)
	}
}

// TestEstimateModelMeetsMeasurements checks the model against the lab's bisection
// (docs/reservation.md): with the inputs "gokdump estimate" measured in the guests
// (Debian 6.1, an ext4 target on virtio, the default core_collector), the model
// without its margin lands within one bisection step above each measured minimum,
// and the recommendation (with the margin) is above every smallest reservation that
// failed.
func TestEstimateModelMeetsMeasurements(t *testing.T) {
	in := EstimateInputs{Kernel: 65120 << 10, ImageCompressed: 7928 << 10, ImageUnpacked: 15971 << 10, Modules: 2686 << 10}
	for _, m := range []struct {
		memGiB          int64
		minMiB, failMiB int64 // smallest saved, largest failed (0: not tried)
	}{
		{1, 112, 104},
		{4, 112, 104},
		{16, 112, 0},
		{64, 112, 104},
	} {
		in.Memory = m.memGiB << 30
		e := ComputeEstimate(in)
		model := (e.Total - e.Margin) >> 20
		if model < m.failMiB || model > m.minMiB+8 {
			t.Errorf("%d GiB: the model without margin says %d MiB; measured minimum %d MiB (%d MiB failed)", m.memGiB, model, m.minMiB, m.failMiB)
		}
		if e.Recommended>>20 < m.minMiB+16 {
			t.Errorf("%d GiB: recommends %d MiB, under 16 MiB above the measured minimum %d MiB", m.memGiB, e.Recommended>>20, m.minMiB)
		}
	}
}

func TestKernelMemory(t *testing.T) {
	dir := t.TempDir()
	hdr := make([]byte, 0x400)
	copy(hdr[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(hdr[0x206:], 0x20f)
	binary.LittleEndian.PutUint32(hdr[0x260:], 45<<20)
	p := filepath.Join(dir, "bzImage")
	os.WriteFile(p, hdr, 0o644)
	if n, from, err := kernelMemory(p); err != nil || n != 45<<20 || !strings.Contains(from, "init_size") {
		t.Errorf("bzImage: %d %q %v", n, from, err)
	}
	binary.LittleEndian.PutUint16(hdr[0x206:], 0x209) // too old for init_size
	os.WriteFile(p, hdr, 0o644)
	if n, _, err := kernelMemory(p); err != nil || n != 4*0x400 {
		t.Errorf("old protocol: %d %v", n, err)
	}
	os.WriteFile(p, []byte("tiny"), 0o644)
	if n, _, err := kernelMemory(p); err != nil || n != 16 {
		t.Errorf("tiny: %d %v", n, err)
	}
}

func TestEstimate(t *testing.T) {
	m := newFakeMachine(t)
	m.setKexecFiles("old", false, 128<<20)
	e, err := m.Estimate(StartOptions{Config: mustConfig(t, "ext4 /dev/vdb"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	// The fake kernel is 12 KiB without a bzImage header.
	if e.Kernel != 4*12<<10 || e.Reserved != 128<<20 || e.ImageCompressed <= 0 || e.ImageUnpacked <= 0 || e.Modules <= 0 {
		t.Errorf("%+v", e)
	}
	// 56 MiB of constants and the fake machine's memory (no meminfo: 0 GiB), rounded.
	if e.Recommended != 64<<20 || e.Memory != 0 {
		t.Errorf("recommended %d MiB for a tiny kernel and image (memory %d)", e.Recommended>>20, e.Memory)
	}
}

// TestStartRefusesBlacklistedModule: a module_blacklist= on the capture command line
// that names a module the capture initramfs loads is refused at start, naming it and
// the way out; one naming modules the capture does not load is accepted.
func TestStartRefusesBlacklistedModule(t *testing.T) {
	m, k := armableMachine(t)
	m.write("proc/cmdline", "root=UUID=1234 ro module_blacklist=nouveau,virtio_blk crashkernel=256M\n")
	conf := "ext4 /dev/vdb\n"
	opts := StartOptions{Config: mustConfig(t, conf), ConfigData: []byte(conf), Self: m.path("usr/sbin/gokdump")}
	_, err := m.Start(opts)
	if err == nil || !strings.Contains(err.Error(), "names virtio_blk") || !strings.Contains(err.Error(), "kdump_commandline_remove") ||
		!strings.Contains(err.Error(), "running kernel's command line") {
		t.Fatalf("Start = %v, want a refusal naming virtio_blk and the running kernel's command line", err)
	}
	if len(k.calls) != 0 {
		t.Errorf("the capture kernel was loaded: %+v", k.calls)
	}
	// Given in the configuration, the refusal names the line of the parameter in
	// effect (the last, spelt with '-' or '_'; an appended one over the base's)
	// and a way out that works there: kdump_commandline_remove does not reach
	// appended parameters.
	for _, tc := range []struct{ conf, at, fix string }{
		{conf + "kdump_commandline_append quiet module_blacklist=virtio_blk\n", "kdump.conf:2: ", "out of the appended parameters"},
		{conf + "kdump_commandline_append module-blacklist=virtio_blk\n", "kdump.conf:2: ", "out of the appended parameters"},
		{conf + "kdump_commandline_append module_blacklist=nouveau\nkdump_commandline_append module_blacklist=virtio_blk,nouveau\n", "kdump.conf:3: ", "out of the appended parameters"},
		{conf + "kdump_commandline root=UUID=1234 module_blacklist=virtio_blk\n", "kdump.conf:2: ", "kdump_commandline_remove module_blacklist"},
		{conf + "kdump_commandline root=UUID=1234 module_blacklist=virtio_blk\nkdump_commandline_append module_blacklist=virtio_blk\n", "kdump.conf:3: ", "out of the appended parameters"},
	} {
		opts.Config, opts.ConfigData = mustConfig(t, tc.conf), []byte(tc.conf)
		_, err := m.Start(opts)
		if err == nil || !strings.HasPrefix(err.Error(), "refusing to arm: "+tc.at) || !strings.Contains(err.Error(), "names virtio_blk") || !strings.Contains(err.Error(), tc.fix) {
			t.Errorf("%q: Start = %v, want a refusal at %s naming virtio_blk and %q", tc.conf, err, tc.at, tc.fix)
		}
	}
	opts.Config, opts.ConfigData = mustConfig(t, conf), []byte(conf)
	// The kernel keeps the last module_blacklist= only, and "virtio-blk" (a file
	// name's spelling) is not the module's name: neither blocks the driver.
	for _, bl := range []string{"nouveau", "virtio-blk"} {
		c := conf + "kdump_commandline_append module_blacklist=" + bl + "\n"
		opts.Config, opts.ConfigData = mustConfig(t, c), []byte(c)
		res, err := m.Start(opts)
		if err != nil || !strings.Contains(res.Cmdline, "module_blacklist="+bl) || strings.Contains(res.Cmdline, "virtio_blk") {
			t.Fatalf("module_blacklist=%s: %v, command line %q", bl, err, res.Cmdline)
		}
	}
}
