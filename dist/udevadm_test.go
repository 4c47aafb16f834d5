package dist

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

// TestUdevadm runs 98-gokdump.rules through systemd-udevd's own rule engine
// (`udevadm test`, which evaluates the rules for a real device of this machine and
// prints the RUN programs it would start, without starting them). The rule is placed
// in a private mount namespace, on a tmpfs over /etc/udev/rules.d, so the machine's
// own udev never sees it. Real device-mapper and md devices are not on the test host
// (its kernel has neither driver); their events are covered by the evaluator in
// udev_test.go and the rule's own match on KERNEL names, which udevadm parses here.
func TestUdevadm(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private mount namespace (make test runs as root)")
	}
	udevadm := testenv.NeedTool(t, "udevadm", "udev")
	unshare := testenv.NeedTool(t, "unshare", "util-linux")
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	const rearm = "/usr/bin/systemctl restart gokdump.service"
	cases := []struct {
		action, dev string
		want        bool
	}{
		{"add", "/sys/devices/system/cpu/cpu0", true},
		{"offline", "/sys/devices/system/cpu/cpu0", true},
		{"online", "/sys/devices/system/memory/memory0", true},
		{"add", "/sys/devices/system/memory/memory0", false}, // a block is added offline: nothing to do until it is onlined
		{"change", "/sys/class/net/lo", false},
		{"change", "/sys/block/loop0", false}, // a block device, but not dm or md
	}
	for _, c := range cases {
		if _, err := os.Stat(c.dev); err != nil {
			t.Fatalf("this machine has no %s: %v", c.dev, err)
		}
		// The script gets the rule on standard input; nothing from it reaches a shell
		// but the fixed file name.
		script := `mount -t tmpfs -o mode=0755 gokdump-udev-test /etc/udev/rules.d && cat > /etc/udev/rules.d/98-gokdump.rules && exec "$0" test --action="$1" "$2"`
		cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-ec", script, udevadm, c.action, c.dev)
		cmd.Stdin = strings.NewReader(string(rules))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("udevadm test --action=%s %s: %v\n%s", c.action, c.dev, err, out)
		}
		s := string(out)
		if !strings.Contains(s, "98-gokdump.rules") && c.want {
			t.Errorf("udevadm test --action=%s %s: the rule file was not read:\n%s", c.action, c.dev, s)
		}
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, "98-gokdump.rules") && containsAny(strings.ToLower(l), "invalid", "error", "unknown", "ignor") {
				t.Errorf("udevd's parser complains about the rule: %s", l)
			}
		}
		got := false
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "run: ") && strings.Contains(l, rearm) {
				got = true
			}
		}
		if got != c.want {
			t.Errorf("udevadm test --action=%s %s: re-arms %v, want %v; udevadm said:\n%s", c.action, c.dev, got, c.want, lastRunLines(s))
		}
	}
}

func lastRunLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "gokdump") || strings.HasPrefix(l, "run: ") || strings.HasPrefix(l, "ACTION=") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
