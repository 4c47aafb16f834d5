package capture

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/vmcore"
)

// TestFlowDebianLayout: with Debian's configuration the capture writes
// PATH/YYYYMMDDHHMM/dump.YYYYMMDDHHMM and dmesg.YYYYMMDDHHMM, prunes to
// KDUMP_NUM_DUMPS counting kdump-tools' own dumps, and gokdump list reads it back.
func TestFlowDebianLayout(t *testing.T) {
	t.Parallel()
	v, err := config.ParseShellVars(strings.NewReader("USE_KDUMP=1\nKDUMP_COREDIR=\"/var/crash\"\nKDUMP_NUM_DUMPS=2\nMAKEDUMP_ARGS=\"-l -d 31\"\n"), "kdump-tools")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.FromDebian(v)
	if err != nil {
		t.Fatal(err)
	}
	tf := newTestFlow(t, "")
	tf.Config = cfg
	tf.base = filepath.Join(tf.target.dir, "var/crash")
	for _, d := range []string{"202401010000", "202402010000"} { // kdump-tools' dumps
		if err := os.MkdirAll(filepath.Join(tf.base, d), 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(tf.base, d, "dump."+d), []byte("x"), 0o600)
	}
	st := tf.run(t)
	if st.Result != dumpdir.Complete {
		t.Fatalf("result %s %q", st.Result, st.Error)
	}
	dir := filepath.Join(tf.base, "202611260708")
	if st.Dir != dir || st.Dump != "dump.202611260708" || st.Dmesg != "dmesg.202611260708" {
		t.Errorf("dir %s dump %s dmesg %s", st.Dir, st.Dump, st.Dmesg)
	}
	wantFiles(t, dir, dumpdir.StatusFile, "dump.202611260708", "dmesg.202611260708")
	wantMode(t, dir, 0o700)
	wantMode(t, filepath.Join(dir, "dump.202611260708"), 0o600)
	if strings.Join(st.Pruned, " ") != "202401010000" {
		t.Errorf("pruned %q, want the oldest kdump-tools dump", st.Pruned)
	}
	f, err := vmcore.Open(filepath.Join(dir, "dump.202611260708"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	dumps, err := dumpdir.List(tf.base)
	if err != nil || len(dumps) != 2 || dumps[1].Dir != dir || dumps[1].Result != dumpdir.Complete || dumps[1].Layout != "debian" ||
		dumps[1].File != filepath.Join(dir, "dump.202611260708") || dumps[1].Panic != testPanic {
		t.Errorf("List: %+v %v", dumps, err)
	}
}

// TestFlowNoDmesg: dump_dmesg 0 (KDUMP_DUMP_DMESG=0) leaves the kernel log out.
func TestFlowNoDmesg(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "dump_dmesg 0\n")
	st := tf.run(t)
	if st.Result != dumpdir.Complete || st.Dmesg != "" {
		t.Fatalf("result %s dmesg %q", st.Result, st.Dmesg)
	}
	wantFiles(t, st.Dir, dumpdir.StatusFile, dumpdir.DumpFile)
}

// hookDirs makes pre.d and post.d with the given files (executable unless their
// name starts with "noexec").
func hookDirs(t *testing.T, tf *testFlow, pre, post []string) {
	t.Helper()
	base := t.TempDir()
	for i, files := range [][]string{pre, post} {
		dir := filepath.Join(base, []string{"pre.d", "post.d"}[i])
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			mode := os.FileMode(0o700)
			if strings.HasPrefix(f, "noexec") {
				mode = 0o600
			}
			if err := os.WriteFile(filepath.Join(dir, f), []byte("#!/bin/sh\n"), mode); err != nil {
				t.Fatal(err)
			}
		}
		os.Mkdir(filepath.Join(dir, "0-a-directory"), 0o700)
		tf.HookDirs[i] = dir
	}
}

// TestFlowHookDirs: kdump_pre, then pre.d's programs in lexical order without
// arguments; the dump; post.d's programs in lexical order, then kdump_post, each with
// the exit status. A failing pre.d or post.d program is a warning; directories and
// files that are not executable are not run.
func TestFlowHookDirs(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "kdump_pre /bin/pre\nkdump_post /bin/post\n")
	hookDirs(t, tf, []string{"20-b", "10-a", "noexec-c", "9-z"}, []string{"b", "a"})
	tf.hooks.exit[filepath.Join(tf.HookDirs[0], "10-a")] = 3
	tf.hooks.exit[filepath.Join(tf.HookDirs[1], "a")] = 1
	st := tf.run(t)
	if st.Result != dumpdir.Complete {
		t.Fatalf("result %s %q", st.Result, st.Error)
	}
	pre, post := tf.HookDirs[0], tf.HookDirs[1]
	want := []string{"/bin/pre", pre + "/10-a", pre + "/20-b", pre + "/9-z", post + "/a 0", post + "/b 0", "/bin/post 0"}
	if strings.Join(tf.hooks.calls, ";") != strings.Join(want, ";") {
		t.Errorf("hooks ran:\n %q\nwant %q", tf.hooks.calls, want)
	}
	w := strings.Join(st.Warnings, "\n")
	if !strings.Contains(w, pre+"/10-a exited with status 3") || !strings.Contains(w, post+"/a exited with status 1") {
		t.Errorf("warnings %q", st.Warnings)
	}
}

// TestFlowHookDirsPreFails: when kdump_pre fails the dump is skipped and pre.d does
// not run (kdump-utils returns at once); post.d does not run either.
func TestFlowHookDirsPreFails(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "kdump_pre /bin/pre\n")
	hookDirs(t, tf, []string{"a"}, []string{"b"})
	tf.hooks.exit["/bin/pre"] = 2
	st := tf.run(t)
	if st.Result != dumpdir.Skipped || strings.Join(tf.hooks.calls, ";") != "/bin/pre" {
		t.Errorf("result %s, hooks %q", st.Result, tf.hooks.calls)
	}
}

// TestFlowHookDirsFailedDump: post.d gets the failed capture's exit status.
func TestFlowHookDirsFailedDump(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "")
	hookDirs(t, tf, nil, []string{"x"})
	tf.CreateDump = func(string) (DumpWriter, error) { return nil, errors.New("read-only file system") }
	st := tf.run(t)
	if st.Result != dumpdir.Failed {
		t.Fatalf("result %s", st.Result)
	}
	if strings.Join(tf.hooks.calls, ";") != tf.HookDirs[1]+"/x 1" {
		t.Errorf("hooks %q, want post.d's x with 1", tf.hooks.calls)
	}
}
