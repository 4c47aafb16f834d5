package kexec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const defaults = "irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off numa=off transparent_hugepage=never acpi_no_memhotplug panic=10 nokaslr"

func TestCaptureCmdline(t *testing.T) {
	tests := []struct {
		name    string
		current string
		extra   []string
		want    string
	}{
		{"empty", "", nil, defaults},
		{"debian lab guest", "console=ttyS0 crashkernel=256M nokaslr", nil,
			"console=ttyS0 " + defaults},
		{"boot loader options",
			"BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=0f3a ro quiet crashkernel=512M-:192M initrd=/boot/initrd.img panic_on_warn=1",
			nil, "root=UUID=0f3a ro " + defaults},
		{"a previous capture line",
			"elfcorehdr=0x27000000 console=ttyS0 memmap=exactmap memmap=640K@0 irqpoll nr_cpus=1", nil,
			"console=ttyS0 " + defaults},
		{"current value replaced", "nr_cpus=8 panic=30 console=tty0 console=ttyS0,115200", nil,
			"console=tty0 console=ttyS0,115200 " + defaults},
		{"dash and underscore", "panic-on-warn nr-cpus=4 log_buf_len=16M hugepages=100 hugepagesz=2M", nil, defaults},
		{"extra overrides and adds", "console=ttyS0", []string{"nr_cpus=2", "console=ttyS1", "  ", "gokdump.debug"},
			"irqpoll reset_devices cgroup_disable=memory mce=off numa=off transparent_hugepage=never acpi_no_memhotplug panic=10 nokaslr nr_cpus=2 console=ttyS1 gokdump.debug"},
		{"duplicate extra: last wins", "", []string{"panic=5", "panic=1"},
			"irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off numa=off transparent_hugepage=never acpi_no_memhotplug nokaslr panic=1"},
		{"quoted value kept whole", `dyndbg="file foo.c +p" crashkernel=256M`, nil, `dyndbg="file foo.c +p" ` + defaults},
		{"init arguments stay last", "console=ttyS0 crashkernel=256M -- single resume=x", nil,
			"console=ttyS0 " + defaults + " -- single resume=x"},
		{"whitespace", "  console=ttyS0 \t\n crashkernel=256M\n", nil, "console=ttyS0 " + defaults},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CaptureCmdline(tt.current, tt.extra); got != tt.want {
				t.Errorf("CaptureCmdline(%q, %q)\n got  %q\n want %q", tt.current, tt.extra, got, tt.want)
			}
		})
	}
}

func TestCaptureCmdlineDoesNotModifyDefaults(t *testing.T) {
	before := strings.Join(DefaultCaptureOptions, " ")
	CaptureCmdline("a", []string{"b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"})
	if after := strings.Join(DefaultCaptureOptions, " "); after != before || before != defaults {
		t.Errorf("DefaultCaptureOptions changed: %q", after)
	}
}

func TestReadState(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    State
		wantErr string
	}{
		{"6.1 armed", map[string]string{
			"kernel/kexec_crash_loaded": "1\n", "kernel/kexec_crash_size": "268435456\n", "kernel/kexec_loaded": "0\n",
		}, State{CrashLoaded: true, CrashSize: 256 << 20}, ""},
		{"6.1 no reservation", map[string]string{
			"kernel/kexec_crash_loaded": "0\n", "kernel/kexec_crash_size": "0\n", "kernel/kexec_loaded": "0\n",
		}, State{}, ""},
		{"6.12 with hotplug", map[string]string{
			"kernel/kexec_crash_loaded": "1\n", "kernel/kexec_crash_size": "167772160\n",
			"kernel/crash_elfcorehdr_size": "4096\n", "kernel/kexec_loaded": "1\n",
		}, State{CrashLoaded: true, CrashSize: 160 << 20, ElfcorehdrSize: 4096, Loaded: true}, ""},
		{"new directory only", map[string]string{
			"kernel/kexec/crash_loaded": "1\n", "kernel/kexec/crash_size": "536870912\n",
			"kernel/kexec/crash_elfcorehdr_size": "8192\n", "kernel/kexec/loaded": "0\n",
		}, State{CrashLoaded: true, CrashSize: 512 << 20, ElfcorehdrSize: 8192}, ""},
		{"new directory wins", map[string]string{
			"kernel/kexec/crash_loaded": "1\n", "kernel/kexec_crash_loaded": "0\n",
			"kernel/kexec/crash_size": "100\n", "kernel/kexec_crash_size": "200\n",
		}, State{CrashLoaded: true, CrashSize: 100}, ""},
		{"no crash support", map[string]string{"kernel/kexec_loaded": "0\n"}, State{}, "no crash dump support"},
		{"garbage", map[string]string{"kernel/kexec_crash_loaded": "1\n", "kernel/kexec_crash_size": "lots\n"},
			State{}, `kernel/kexec_crash_size: want a non-negative decimal number, got "lots"`},
		{"negative", map[string]string{"kernel/kexec_crash_loaded": "-1"}, State{}, "non-negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadStateAt(root)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLoadErrorMessage(t *testing.T) {
	e := &LoadError{Op: "load", Err: errors.New("cannot allocate memory"), Hint: NoReservationHint}
	if got := e.Error(); !strings.Contains(got, "crashkernel=256M") || !strings.Contains(got, "cannot allocate memory") {
		t.Errorf("message %q", got)
	}
}
