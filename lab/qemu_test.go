package lab

import (
	"strings"
	"testing"

	"github.com/gokdump/gokdump/lab/kernelpkg"
)

func TestVMArgs(t *testing.T) {
	v := &vm{kernel: "/k", initrd: "/i", cmdline: "console=ttyS0", cpu: "qemu64", memoryMiB: 1536, cpus: 2,
		disks: []Disk{{"/f.img", "gokdump-facts"}, {"/v.img", "gokdump-vmcore"}}}
	got := strings.Join(v.args(), " ")
	for _, want := range []string{
		"-accel tcg,thread=single", "-no-reboot", "-cpu qemu64", "-smp 2", "-m 1536", "-kernel /k", "-initrd /i",
		"-append console=ttyS0",
		"-drive file=/f.img,format=raw,if=none,id=disk0 -device virtio-blk-pci,drive=disk0,serial=gokdump-facts",
		"-drive file=/v.img,format=raw,if=none,id=disk1 -device virtio-blk-pci,drive=disk1,serial=gokdump-vmcore",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "memory-backend") {
		t.Errorf("memory backend without MemoryFile: %s", got)
	}
	v.memoryFile = "/ram"
	got = strings.Join(v.args(), " ")
	if !strings.Contains(got, "memory-backend-file,id=ram0,size=1536M,mem-path=/ram,share=on") ||
		!strings.Contains(got, "-machine memory-backend=ram0") {
		t.Errorf("memory file args missing: %s", got)
	}
	v.memoryFile, v.noReserve = "", true
	got = strings.Join(v.args(), " ")
	if !strings.Contains(got, "memory-backend-ram,id=ram0,size=1536M,reserve=off") || !strings.Contains(got, "-machine memory-backend=ram0") {
		t.Errorf("reserve=off args missing: %s", got)
	}
	v.noReserve = false
	v.multiThread = true
	if got = strings.Join(v.args(), " "); !strings.Contains(got, "-accel tcg,thread=multi ") {
		t.Errorf("MultiThreadTCG: %s", got)
	}
}

// TestVMNetArgs: the guest's NIC is on a restricted user network whose only way out
// is the guestfwd rules to the host's loopback.
func TestVMNetArgs(t *testing.T) {
	v := &vm{kernel: "/k", initrd: "/i", cpu: "max", memoryMiB: 768, cpus: 1}
	if got := strings.Join(v.args(), " "); strings.Contains(got, "netdev") {
		t.Errorf("a NIC without Net: %s", got)
	}
	v.net = &Net{Forwards: []Forward{{22, 40022}, {2049, 42049}}}
	got := strings.Join(v.args(), " ")
	want := "-netdev user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:22-tcp:127.0.0.1:40022,guestfwd=tcp:10.0.2.100:2049-tcp:127.0.0.1:42049 -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56"
	if !strings.Contains(got, want) {
		t.Errorf("args %s\nlack %s", got, want)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Kernel: &kernelpkg.Kernel{}, Binaries: Binaries{Guest: "/l", Gokdump: "/g"}, Dir: "/d"}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.CPU != "max" || c.MemoryMiB != 1536 || c.CPUs != 2 || c.CrashKernelMiB != 256 {
		t.Errorf("defaults: %+v", c)
	}
	if cl := c.firstCmdline(); cl != "console=ttyS0 crashkernel=256M panic=1 gokdump.lab=1 printk.devkmsg=on no_timer_check nokaslr" {
		t.Errorf("cmdline without KASLR: %q", cl)
	}
	c.KASLR = true
	if cl := c.firstCmdline(); strings.Contains(cl, "nokaslr") {
		t.Errorf("cmdline with KASLR: %q", cl)
	}
	small := Config{Kernel: &kernelpkg.Kernel{}, Binaries: Binaries{Guest: "/l", Gokdump: "/g"}, Dir: "/d", MemoryMiB: 512}
	if err := small.setDefaults(); err == nil {
		t.Error("512 MiB with 256 MiB reserved and 256 MiB workload: no error")
	}
	if err := (&Config{}).setDefaults(); err == nil {
		t.Error("empty config: no error")
	}
}
