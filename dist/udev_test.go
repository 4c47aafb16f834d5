package dist

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The udev rule 98-gokdump.rules is checked here by reading it with a small
// evaluator of the udev rule syntax it uses (match keys SUBSYSTEM, ACTION, KERNEL and
// ENV{}, ATTRS{}, GOTO/LABEL, RUN+=) and running its RUN script with a stand-in systemctl.
// udevadm_test.go then has udevd's own rule engine parse it and match real CPU, memory
// and block devices of the test machine. What neither proves: that udevd fires it on
// the events device-mapper and md send in a running system, and that systemd re-arms
// through it; that needs a first kernel with udev and systemd, which the lab's guests
// do not run.

const rulesFile = "98-gokdump.rules"

type assignment struct{ key, op, value string }

type ruleLine struct {
	no  int
	as  []assignment
	src string
}

var assignRE = regexp.MustCompile(`^\s*([A-Z_]+(?:\{[A-Za-z_]+\})?)\s*(==|!=|\+=|=)\s*"((?:[^"\\]|\\.)*)"\s*$`)

// splitTopLevel splits s at commas outside double quotes.
func splitTopLevel(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func parseRules(t *testing.T, text string) []ruleLine {
	t.Helper()
	var rules []ruleLine
	for i, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		r := ruleLine{no: i + 1, src: l}
		for _, part := range splitTopLevel(l) {
			m := assignRE.FindStringSubmatch(part)
			if m == nil {
				t.Fatalf("%s:%d: %q is not KEY op \"value\"", rulesFile, i+1, part)
			}
			r.as = append(r.as, assignment{m[1], m[2], m[3]})
		}
		rules = append(rules, r)
	}
	return rules
}

// udevMatch is udev's pattern match: alternatives split by '|', each a shell glob.
func udevMatch(pattern, s string) bool {
	for _, alt := range strings.Split(pattern, "|") {
		if ok, _ := path.Match(alt, s); ok {
			return true
		}
	}
	return false
}

type event struct {
	subsystem, action, kernel string
	env                       map[string]string
	attrs                     map[string]string // ATTRS{}: the device's and its parents' attributes
}

// evaluate runs the rules for ev and returns the RUN commands they add.
func evaluate(t *testing.T, rules []ruleLine, ev event) []string {
	t.Helper()
	var runs []string
	labels := map[string]int{}
	for i, r := range rules {
		for _, a := range r.as {
			if a.key == "LABEL" {
				labels[a.value] = i
			}
		}
	}
	for i := 0; i < len(rules); i++ {
		r := rules[i]
		match := true
		for _, a := range r.as {
			var have string
			switch {
			case a.key == "SUBSYSTEM":
				have = ev.subsystem
			case a.key == "ACTION":
				have = ev.action
			case a.key == "KERNEL":
				have = ev.kernel
			case strings.HasPrefix(a.key, "ENV{"):
				have = ev.env[strings.TrimSuffix(strings.TrimPrefix(a.key, "ENV{"), "}")]
			case strings.HasPrefix(a.key, "ATTRS{"):
				v, ok := ev.attrs[strings.TrimSuffix(strings.TrimPrefix(a.key, "ATTRS{"), "}")]
				if !ok {
					// udev: an ATTRS match on an attribute no device in the chain has
					// fails, for != as well.
					match = false
					continue
				}
				have = v
			default:
				continue
			}
			switch a.op {
			case "==":
				match = match && udevMatch(a.value, have)
			case "!=":
				match = match && !udevMatch(a.value, have)
			}
		}
		if !match {
			continue
		}
		for _, a := range r.as {
			switch a.key {
			case "RUN":
				runs = append(runs, a.value)
			case "GOTO":
				j, ok := labels[a.value]
				if !ok || j <= i {
					t.Fatalf("line %d: GOTO %q has no LABEL after it", r.no, a.value)
				}
				i = j - 1 // the loop's i++ lands on the label line
			}
		}
	}
	return runs
}

// splitRun splits a RUN value into arguments as udev does: at spaces, with single
// quotes around an argument that has spaces.
func splitRun(s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '\'' {
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return append(out, s)
			}
			out = append(out, s[1:end+1])
			s = s[end+2:]
			continue
		}
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

func TestUdevRuleSyntax(t *testing.T) {
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	rules := parseRules(t, string(data))
	known := map[string]bool{"SUBSYSTEM": true, "ACTION": true, "KERNEL": true, "GOTO": true, "LABEL": true, "RUN": true,
		"ENV{DM_UDEV_DISABLE_OTHER_RULES_FLAG}": true, "ATTRS{crash_hotplug}": true}
	labels, gotos := map[string]bool{}, map[string]bool{}
	for _, r := range rules {
		for _, a := range r.as {
			if !known[a.key] {
				t.Errorf("line %d: key %s: not one this rule is meant to use", r.no, a.key)
			}
			switch a.key {
			case "LABEL":
				labels[a.value] = true
			case "GOTO":
				gotos[a.value] = true
			case "RUN":
				if a.op != "+=" {
					t.Errorf("line %d: RUN%s replaces other rules' programs; use +=", r.no, a.op)
				}
			}
			if (a.key == "SUBSYSTEM" || a.key == "ACTION" || a.key == "KERNEL" || strings.HasPrefix(a.key, "ATTRS{")) && a.op != "==" && a.op != "!=" {
				t.Errorf("line %d: %s%s assigns a match key", r.no, a.key, a.op)
			}
		}
	}
	for g := range gotos {
		if !labels[g] {
			t.Errorf("GOTO %q without its LABEL", g)
		}
	}
}

// TestUdevRuleEvents: device-mapper and md add/change/remove events, CPU add/remove/
// online/offline and memory online/offline re-arm (unless the kernel updates the ELF
// core header itself: crash_hotplug 1); other
// devices, subsystems and actions, and dm events marked for other rules to skip, do not.
func TestUdevRuleEvents(t *testing.T) {
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	rules := parseRules(t, string(data))
	for _, tc := range []struct {
		ev   event
		want bool
	}{
		{event{"block", "change", "dm-0", nil, nil}, true},
		{event{"block", "add", "dm-12", nil, nil}, true},
		{event{"block", "remove", "dm-3", nil, nil}, true},
		{event{"block", "change", "md127", nil, nil}, true},
		{event{"block", "add", "md0", nil, nil}, true},
		{event{"block", "change", "md_d0", nil, nil}, true},
		{event{"block", "change", "dm-0", map[string]string{"DM_UDEV_DISABLE_OTHER_RULES_FLAG": "1"}, nil}, false},
		{event{"block", "change", "dm-0", map[string]string{"DM_UDEV_DISABLE_OTHER_RULES_FLAG": ""}, nil}, true},
		{event{"block", "change", "sda", nil, nil}, false},
		{event{"block", "add", "vdb1", nil, nil}, false},
		{event{"block", "change", "loop0", nil, nil}, false},
		{event{"block", "bind", "dm-0", nil, nil}, false},
		{event{"misc", "change", "device-mapper", nil, nil}, false},
		{event{"bdi", "add", "dm-0", nil, nil}, false},
		// CPU and memory hotplug (kdump-utils' 98-kexec.rules): the ELF core header
		// must describe the current CPUs and memory.
		{event{"cpu", "add", "cpu3", nil, nil}, true},
		{event{"cpu", "remove", "cpu3", nil, nil}, true},
		{event{"cpu", "online", "cpu1", nil, nil}, true},
		{event{"cpu", "offline", "cpu1", nil, nil}, true},
		{event{"memory", "online", "memory40", nil, nil}, true},
		{event{"memory", "offline", "memory40", nil, nil}, true},
		{event{"cpu", "change", "cpu1", nil, nil}, false},
		{event{"cpu", "bind", "cpu1", nil, nil}, false},
		// a memory block added is not yet System RAM: its online event re-arms.
		{event{"memory", "add", "memory40", nil, nil}, false},
		{event{"memory", "change", "memory40", nil, nil}, false},
		{event{"node", "online", "node1", nil, nil}, false},
		// the kernel updates the header itself (CONFIG_CRASH_HOTPLUG).
		{event{"cpu", "add", "cpu3", nil, map[string]string{"crash_hotplug": "1"}}, false},
		{event{"memory", "online", "memory40", nil, map[string]string{"crash_hotplug": "1"}}, false},
		{event{"cpu", "add", "cpu3", nil, map[string]string{"crash_hotplug": "0"}}, true},
		{event{"memory", "offline", "memory40", nil, map[string]string{"crash_hotplug": "0"}}, true},
	} {
		runs := evaluate(t, rules, tc.ev)
		if (len(runs) > 0) != tc.want || len(runs) > 1 {
			t.Errorf("%+v: runs %q, want a re-arm: %v", tc.ev, runs, tc.want)
		}
	}
}

// TestUdevRuleCommand: the RUN command names only known programs by absolute path,
// returns at once (systemd-run --no-block), restarts gokdump.service (the unit in this
// directory) only when it is active or failed, and its script does so when run with
// a stand-in systemctl.
func TestUdevRuleCommand(t *testing.T) {
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	runs := evaluate(t, parseRules(t, string(data)), event{"block", "change", "dm-0", nil, nil})
	if len(runs) != 1 {
		t.Fatalf("runs %q", runs)
	}
	argv := splitRun(runs[0])
	if len(argv) != 6 || argv[0] != "/usr/bin/systemd-run" || argv[1] != "--quiet" || argv[2] != "--no-block" ||
		argv[3] != "/bin/sh" || argv[4] != "-c" {
		t.Fatalf("RUN argv %q: want /usr/bin/systemd-run --quiet --no-block /bin/sh -c SCRIPT", argv)
	}
	script := argv[5]
	if _, err := os.Stat("gokdump.service"); err != nil {
		t.Fatal(err)
	}
	knownCmds := map[string]bool{"/usr/bin/systemctl": true, "exit": true, "exec": true}
	for _, cmd := range regexp.MustCompile(`\|\||;`).Split(script, -1) {
		f := strings.Fields(cmd)
		if len(f) == 0 || !knownCmds[f[0]] {
			t.Errorf("script command %q: not one of %v", cmd, knownCmds)
			continue
		}
		if f[0] == "exec" && (len(f) < 2 || f[1] != "/usr/bin/systemctl") {
			t.Errorf("script execs %q", f)
		}
		if strings.Contains(cmd, "systemctl") && !strings.HasSuffix(strings.TrimSpace(cmd), " gokdump.service") {
			t.Errorf("script command %q is not about gokdump.service", cmd)
		}
	}
	// Run it with systemctl replaced: the stand-in answers is-active / is-failed with
	// the exit codes given and logs every call.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		state   string // the unit's state
		restart bool
	}{{"active", true}, {"failed", true}, {"inactive", false}} {
		dir := t.TempDir()
		log := filepath.Join(dir, "log")
		fake := filepath.Join(dir, "systemctl")
		os.WriteFile(fake, []byte(`#!/bin/sh
echo "$*" >> `+log+`
case "$*" in
*is-active*) [ "`+tc.state+`" = active ] ;;
*is-failed*) [ "`+tc.state+`" = failed ] ;;
*) exit 0 ;;
esac
`), 0o755)
		out, err := exec.Command(sh, "-c", strings.ReplaceAll(script, "/usr/bin/systemctl", fake)).CombinedOutput()
		if err != nil {
			t.Errorf("%s: script: %v\n%s", tc.state, err, out)
		}
		calls, _ := os.ReadFile(log)
		restarted := strings.Contains(string(calls), "restart gokdump.service")
		if restarted != tc.restart {
			t.Errorf("unit %s: calls %q, restart wanted: %v", tc.state, calls, tc.restart)
		}
	}
}
