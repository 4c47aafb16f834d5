package config

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

// FuzzParse feeds arbitrary files to Parse: it must return a configuration or an
// error naming the file, never panic, and what it accepts must print (Format) to a
// file that parses back to the same configuration.
func FuzzParse(f *testing.F) {
	f.Add([]byte("path /var/crash\ncore_collector makedumpfile -l --message-level 7 -d 31\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(bytes.NewReader(data), "fuzz.conf")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.conf") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := c.Format(&buf); err != nil {
			t.Fatal(err)
		}
		c2, err := Parse(bytes.NewReader(buf.Bytes()), "formatted.conf")
		if err != nil {
			t.Fatalf("formatted configuration does not parse: %v\n%s", err, buf.Bytes())
		}
		if !sameConfig(c, c2) {
			t.Fatalf("round trip changed the configuration:\n%+v\n%+v", c, c2)
		}
	})
}

// FuzzShellVars feeds arbitrary files to ParseShellVars: it must return the
// assignments or errors naming the file and a line, never panic; every value it
// accepts, written back in single quotes, reads back the same.
func FuzzShellVars(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseShellVars(bytes.NewReader(data), "vars")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "vars:") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		var b strings.Builder
		for _, a := range v.Assignments {
			b.WriteString(a.Name + "='" + strings.ReplaceAll(a.Value, "'", `'"'"'`) + "'\n")
		}
		v2, err := ParseShellVars(strings.NewReader(b.String()), "again")
		if err != nil {
			t.Fatalf("written back, %q does not parse: %v", b.String(), err)
		}
		if len(v2.Assignments) != len(v.Assignments) {
			t.Fatalf("written back: %d assignments, want %d", len(v2.Assignments), len(v.Assignments))
		}
		for i, a := range v.Assignments {
			if b := v2.Assignments[i]; a.Name != b.Name || a.Value != b.Value {
				t.Fatalf("written back: %+v, want %+v", b, a)
			}
		}
	})
}

// FuzzDebian feeds arbitrary files to the Debian defaults reader: it must return a
// configuration or errors naming the file, and what it accepts must print (Format)
// to a kdump.conf that parses back to the same configuration.
func FuzzDebian(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseShellVars(bytes.NewReader(data), "kdump-tools")
		if err != nil {
			return
		}
		c, err := FromDebian(v)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "kdump-tools") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := c.Format(&buf); err != nil {
			t.Fatal(err)
		}
		c2, err := Parse(bytes.NewReader(buf.Bytes()), "formatted.conf")
		if err != nil {
			t.Fatalf("formatted configuration does not parse: %v\n%s", err, buf.Bytes())
		}
		c.Disabled = ""
		if !sameConfig(c, c2) {
			t.Fatalf("round trip changed the configuration:\n%+v\n%+v", c, c2)
		}
	})
}

var updateSeeds = flag.Bool("update", false, "rewrite testdata/fuzz seeds")

// debianSeed is a kdump-tools defaults file in Debian's form (our own text) with
// every variable set.
const debianSeed = `# kdump-tools settings
USE_KDUMP=1
KDUMP_KERNEL=/var/lib/kdump/vmlinuz
KDUMP_INITRD=/var/lib/kdump/initrd.img
KDUMP_COREDIR="/var/crash"
KDUMP_FAIL_CMD="reboot -f"
KDUMP_DUMP_DMESG=1
KDUMP_NUM_DUMPS=3
KDUMP_COMPRESSION=
MAKEDUMP_ARGS="-c -d 31"
KDUMP_KEXEC_ARGS=""
KDUMP_CMDLINE=""
KDUMP_CMDLINE_APPEND="reset_devices nr_cpus=1 irqpoll"
#HOSTTAG="hostname|[ip]"
#NFS="<nfs mount>"
#SSH="<user at server>"
`

// TestFuzzSeeds keeps testdata/fuzz's seeds of the shell-variable readers.
func TestFuzzSeeds(t *testing.T) {
	seeds := map[string][]any{
		"debian":  {[]byte(debianSeed)},
		"remote":  {[]byte("USE_KDUMP=1\nSSH=kdump@10.0.0.2\nSSH_KEY=/root/.ssh/kdump_id_rsa\nHOSTTAG=hostname\n")},
		"nfs":     {[]byte("USE_KDUMP=1\nNFS='srv:/export'\nKDUMP_COREDIR=/var/crash\nNFS_TIMEO=600\n")},
		"quoting": {[]byte("export A='x''y'\nB=\"a \\\"b\\\" \\\\\"  # c\nC=a\"b c\"'d'\n")},
		"refused": {[]byte("A=$HOME\nB=`id`\nC=\"$(id)\"\nD=1; E=2\nF=\"open\nG=~/x\n")},
		"hash":    {[]byte("USE_KDUMP=1\nSSH=0@0000000\nSSH_KEY=/0000#0\n")},
		"fedora":  {[]byte("KDUMP_KERNELVER=\"\"\nKDUMP_COMMANDLINE_REMOVE=\"quiet cma\"\nKDUMP_COMMANDLINE_APPEND=\"irqpoll nr_cpus=1\"\nKEXEC_ARGS=\"-s\"\n")},
	}
	testenv.CheckFuzzSeeds(t, map[string]map[string][]any{"FuzzShellVars": seeds, "FuzzDebian": seeds}, *updateSeeds,
		"go test ./config -run TestFuzzSeeds -update")
}
