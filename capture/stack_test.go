package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/volume"
)

var testStack = &volume.Stack{
	Arrays: []volume.Array{{UUID: "0a1b2c3d:4e5f6071:8293a4b5:c6d7e8f9", Name: "box:dumps", Level: 1, Members: 2, Minor: 127}},
	LV: &volume.MappedLV{VGName: "vg-0", VGID: "Vg0Id", Seqno: 7, Name: "crash", ID: "LvId", PVs: []string{"PvId"},
		Table: []volume.Target{{Start: 0, Length: 8192, Type: "linear", Stripes: []volume.Stripe{{PV: "PvId", Offset: 2048}}}}},
}

// activator records its calls and answers with path and err.
type activator struct {
	calls    int
	mounted  bool // whether the target was mounted when it was called
	deadline time.Duration
	wait     time.Duration
	path     string
	err      error
}

func (a *activator) fn(tf *testFlow) Activator {
	return func(ctx context.Context, s *volume.Stack, wait time.Duration) (string, error) {
		a.calls++
		a.mounted = tf.target.mounted
		a.wait = wait
		if d, ok := ctx.Deadline(); ok {
			a.deadline = time.Until(d)
		}
		if s != testStack {
			return "", fmt.Errorf("activated %+v, not the recorded stack", s)
		}
		return a.path, a.err
	}
}

func TestFlowBringsUpStack(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "ext4 /dev/vg-0/crash\nfinal_action poweroff\n")
	tf.Stack, tf.DevDir = testStack, t.TempDir()
	act := &activator{path: "/dev/mapper/vg--0-crash"}
	tf.Activate = act.fn(tf)
	st := tf.run(t)
	if st.Result != dumpdir.Complete {
		t.Fatalf("result %s %q", st.Result, st.Error)
	}
	if act.calls != 1 || act.mounted {
		t.Errorf("activated %d times, target mounted before: %v", act.calls, act.mounted)
	}
	if act.wait != VolumeWait || act.deadline <= 0 || act.deadline > DefaultTimeouts.Target {
		t.Errorf("activation wait %v, context deadline in %v: want %v within %v", act.wait, act.deadline, VolumeWait, DefaultTimeouts.Target)
	}
	for link, want := range map[string]string{
		"vg-0/crash":   "../mapper/vg--0-crash",
		"md/box:dumps": "../md127",
		"md/dumps":     "../md127",
	} {
		if got, err := os.Readlink(filepath.Join(tf.DevDir, link)); err != nil || got != want {
			t.Errorf("/dev/%s -> %q (%v), want %q", link, got, err, want)
		}
	}
	c := tf.console.String()
	if !strings.Contains(c, "bringing up md array 0a1b2c3d:4e5f6071:8293a4b5:c6d7e8f9 (box:dumps, /dev/md127), LV vg-0/crash") ||
		!strings.Contains(c, "is up as /dev/mapper/vg--0-crash") {
		t.Errorf("console:\n%s", c)
	}
}

// TestFlowLayoutChanged: a layout that changed since arming fails the capture before
// anything is mounted or written; the console and the status say what changed, and
// failure_action runs.
func TestFlowLayoutChanged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"layout changed", &volume.LayoutChangedError{Volume: "vg-0/crash", Changes: []string{"VG metadata seqno 8, recorded 7 (the VG's metadata was changed)", "LV size 16384 sectors, recorded 8192"}},
			[]string{"changed since gokdump start recorded it", "nothing was written", "seqno 8, recorded 7", "LV size 16384 sectors", "re-run gokdump start"}},
		{"PV missing", fmt.Errorf("volume: PV PvId of vg-0/crash did not appear: %w", volume.ErrMissingDevice),
			[]string{"bringing up md array", "PvId", "device not found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tf := newTestFlow(t, "ext4 /dev/mapper/vg--0-crash\nkdump_pre /bin/pre\nfailure_action halt\nfinal_action poweroff\n")
			tf.Stack, tf.DevDir = testStack, t.TempDir()
			act := &activator{err: tc.err}
			tf.Activate = act.fn(tf)
			st := tf.run(t)
			if st.Result != dumpdir.Failed || st.Action != "halt" || strings.Join(tf.machine.actions, " ") != "halt" {
				t.Errorf("result %s, action %s %q: want failed and failure_action halt", st.Result, st.Action, tf.machine.actions)
			}
			if tf.target.mounted || len(tf.hooks.calls) != 0 {
				t.Errorf("mounted %v, hooks %q after a failed activation", tf.target.mounted, tf.hooks.calls)
			}
			for _, w := range tc.want {
				if !strings.Contains(st.Error, w) {
					t.Errorf("status error %q lacks %q", st.Error, w)
				}
				if !strings.Contains(tf.console.String(), w) {
					t.Errorf("console lacks %q:\n%s", w, tf.console.String())
				}
			}
			if _, err := os.Lstat(filepath.Join(tf.DevDir, "vg-0")); err == nil {
				t.Error("links made for a stack that did not come up")
			}
		})
	}
}

func TestFlowNoStackNoActivation(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "ext4 /dev/vdb\n")
	act := &activator{err: errors.New("must not be called")}
	tf.Activate = act.fn(tf)
	if st := tf.run(t); st.Result != dumpdir.Complete || act.calls != 0 {
		t.Errorf("result %s %q, %d activations", st.Result, st.Error, act.calls)
	}
}

func TestStackLinks(t *testing.T) {
	s := &volume.Stack{Arrays: []volume.Array{{Name: "noname", Minor: 0}, {Name: "", Minor: 1}, {Name: "a/b", Minor: 2}},
		LV: &volume.MappedLV{VGName: "../x", Name: "y"}}
	var got []string
	for _, l := range stackLinks(s) {
		got = append(got, l.name+"->"+l.to)
	}
	if strings.Join(got, " ") != "md/noname->../md0" {
		t.Errorf("links %q: want only md/noname (no empty, slashed or dot names)", got)
	}
}
