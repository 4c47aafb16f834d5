package capture

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/internal/sshtest"
	"github.com/gokdump/gokdump/target"
	"github.com/gokdump/gokdump/vmcore"
	"golang.org/x/crypto/ssh"
)

// remoteFlow is a test flow whose target is the in-process ssh server, saving under
// a temporary directory on "the server" (this machine).
func remoteFlow(t *testing.T, o sshtest.Options, conf ...string) (*testFlow, *sshtest.Server, string) {
	t.Helper()
	srv := sshtest.Start(t, o)
	serverDir := t.TempDir()
	tf := newTestFlow(t, "path "+serverDir+"/crash\nssh root@dumps.example\nfailure_action halt\nfinal_action poweroff\n"+strings.Join(conf, ""))
	key := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(key, srv.UserKey, 0o600); err != nil {
		t.Fatal(err)
	}
	tf.Target = nil
	tf.Remote = SSHTarget{&target.SSH{Addr: "127.0.0.1", Port: srv.Addr.Port, User: "root", KeyFile: key,
		HostKeys: []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey)))}, Wait: 5 * time.Second}}
	return tf, srv, filepath.Join(serverDir, "crash")
}

func TestFlowSSHSFTP(t *testing.T) {
	t.Parallel()
	tf, srv, base := remoteFlow(t, sshtest.Options{})
	network := 0
	tf.Network = func(ctx context.Context) error { network++; return nil }
	st := tf.run(t)
	if st.Result != dumpdir.Complete || st.Dump != dumpdir.DumpFile || network != 1 {
		t.Fatalf("result %s %q dump %q network %d", st.Result, st.Error, st.Dump, network)
	}
	dir := filepath.Join(base, "crashbox-2026-11-26-07:08:09")
	wantFiles(t, dir, dumpdir.StatusFile, dumpdir.DumpFile, dumpdir.DmesgFile)
	wantMode(t, dir, 0o700)
	for _, n := range []string{dumpdir.StatusFile, dumpdir.DumpFile, dumpdir.DmesgFile} {
		wantMode(t, filepath.Join(dir, n), 0o600)
	}
	f, err := vmcore.Open(filepath.Join(dir, dumpdir.DumpFile))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	saved, err := dumpdir.ReadStatus(dir)
	if err != nil || saved.Result != dumpdir.Complete || saved.Target != "ssh root@"+srv.Addr.String() || saved.PanicLine == "" {
		t.Fatalf("%+v %v", saved, err)
	}
	if tf.machine.actions[0] != "poweroff" {
		t.Errorf("actions %v", tf.machine.actions)
	}
}

func TestFlowSSHNoSFTPKeepsFlat(t *testing.T) {
	t.Parallel()
	tf, _, base := remoteFlow(t, sshtest.Options{NoSFTP: true, Path: "/usr/bin:/bin"})
	st := tf.run(t)
	if st.Result != dumpdir.Complete || st.Dump != FlatDumpFile {
		t.Fatalf("result %s %q dump %q", st.Result, st.Error, st.Dump)
	}
	dir := filepath.Join(base, "crashbox-2026-11-26-07:08:09")
	wantFiles(t, dir, dumpdir.StatusFile, FlatDumpFile, dumpdir.DmesgFile)
	wantMode(t, filepath.Join(dir, FlatDumpFile), 0o600)
	if !strings.Contains(strings.Join(st.Warnings, "\n"), "no gokdump on its PATH: the dump is vmcore.flat") {
		t.Errorf("warnings %q", st.Warnings)
	}
	// The flattened stream is a dump every reader opens.
	f, err := vmcore.Open(filepath.Join(dir, FlatDumpFile))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

var buildOnce struct {
	sync.Once
	dir string
	err error
}

// gokdumpBinary builds cmd/gokdump once for the tests that run it as the server's.
func gokdumpBinary(t *testing.T) string {
	buildOnce.Do(func() {
		buildOnce.dir, buildOnce.err = os.MkdirTemp("", "gokdump-bin-")
		if buildOnce.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildOnce.dir, "gokdump"), "../cmd/gokdump")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildOnce.err = errors.New(string(out))
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.dir
}

func TestFlowSSHNoSFTPReassembled(t *testing.T) {
	t.Parallel()
	bin := gokdumpBinary(t)
	tf, srv, base := remoteFlow(t, sshtest.Options{NoSFTP: true, Path: bin + ":/usr/bin:/bin"})
	st := tf.run(t)
	if st.Result != dumpdir.Complete || st.Dump != dumpdir.DumpFile {
		t.Fatalf("result %s %q dump %q warnings %q", st.Result, st.Error, st.Dump, st.Warnings)
	}
	dir := filepath.Join(base, "crashbox-2026-11-26-07:08:09")
	wantFiles(t, dir, dumpdir.StatusFile, dumpdir.DumpFile, dumpdir.DmesgFile)
	wantMode(t, filepath.Join(dir, dumpdir.DumpFile), 0o600)
	f, err := vmcore.Open(filepath.Join(dir, dumpdir.DumpFile))
	if err != nil {
		t.Fatal(err)
	}
	if f.Format != vmcore.FormatKdump {
		t.Errorf("format %v, want kdump-compressed", f.Format)
	}
	f.Close()
	t.Logf("server commands: %q", srv.Commands())
}

func TestFlowSSHWrongHostKey(t *testing.T) {
	t.Parallel()
	tf, srv, base := remoteFlow(t, sshtest.Options{})
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	pk, _ := ssh.NewPublicKey(other.Public())
	tf.Remote.(SSHTarget).HostKeys[0] = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
	st := tf.run(t)
	if st.Result != dumpdir.Failed || !strings.Contains(st.Error, "host key is not the one recorded") {
		t.Fatalf("result %s %q", st.Result, st.Error)
	}
	if len(tf.machine.actions) != 1 || tf.machine.actions[0] != "halt" {
		t.Errorf("actions %v, want failure_action halt", tf.machine.actions)
	}
	if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("something was written on the server: %v", err)
	}
	if len(srv.Commands()) != 0 {
		t.Errorf("commands %q", srv.Commands())
	}
}

func TestFlowNetworkDown(t *testing.T) {
	t.Parallel()
	tf, _, base := remoteFlow(t, sshtest.Options{})
	tf.Network = func(ctx context.Context) error { return errors.New("no carrier on ens3") }
	st := tf.run(t)
	if st.Result != dumpdir.Failed || !strings.Contains(st.Error, "network: no carrier") || tf.machine.actions[0] != "halt" {
		t.Fatalf("result %s %q actions %v", st.Result, st.Error, tf.machine.actions)
	}
	if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
		t.Error("written without a network")
	}
}

// TestFlowSSHOutOfMemory: the capture's memory watch covers the ssh path too: short of
// memory, the console and the status on the server say so and failure_action runs.
func TestFlowSSHOutOfMemory(t *testing.T) {
	t.Parallel()
	tf, _, base := remoteFlow(t, sshtest.Options{})
	tf.Network = func(ctx context.Context) error { return nil }
	tf.Memory = MemoryWatch{
		Available:   func() (int64, error) { return 1 << 20, nil },
		Reservation: func() (int64, error) { return 192<<20 - 4096, nil },
	}
	st := tf.run(t)
	if st.Result == dumpdir.Complete || !strings.Contains(st.Error, oomMessage) {
		t.Fatalf("result %s, error %q; want the out-of-memory message", st.Result, st.Error)
	}
	if !strings.Contains(tf.console.String(), "gokdump: "+oomMessage) {
		t.Errorf("console does not say so:\n%s", tf.console)
	}
	saved, err := dumpdir.ReadStatus(filepath.Join(base, "crashbox-2026-11-26-07:08:09"))
	if err != nil || !strings.Contains(saved.Error, "reservation 192 MiB") {
		t.Errorf("status on the server: %+v %v", saved, err)
	}
	if len(tf.machine.actions) != 1 || tf.machine.actions[0] != "halt" {
		t.Errorf("actions %v, want failure_action halt", tf.machine.actions)
	}
}

// TestFlowSSHKeepDumps: keep_dumps on an ssh server removes this machine's oldest
// dump directories, over SFTP and, without it, with ls and rm. On the shared server
// it leaves alone another machine's dumps, a clone's with the same host name (another
// machine-id), a directory without a status file, a file named like a dump, and a
// directory whose name holds a newline before a dump's name.
func TestFlowSSHKeepDumps(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		o    sshtest.Options
	}{{"sftp", sshtest.Options{}}, {"no-sftp", sshtest.Options{NoSFTP: true, Path: "/usr/bin:/bin"}}} {
		t.Run(c.name, func(t *testing.T) {
			tf, _, base := remoteFlow(t, c.o, "keep_dumps 2\n")
			tf.MachineID = "0123456789abcdef0123456789abcdef"
			dirs := map[string]string{ // name: machine-id in its status ("-": no status file)
				"crashbox-2020-01-01-00:00:00":    tf.MachineID,
				"crashbox-2021-01-01-00:00:00":    tf.MachineID,
				"crashbox-2019-06-01-12:00:00":    tf.MachineID,
				"crashbox-2021-01-01-00:00:00.1":  tf.MachineID,
				"crashbox-2018-01-01-00:00:00":    "fedcba9876543210fedcba9876543210", // a clone
				"crashbox-2016-01-01-00:00:00":    "-",
				"otherbox-2018-01-01-00:00:00":    "fedcba9876543210fedcba9876543210",
				"notes":                           "-",
				"x\ncrashbox-2017-01-01-00:00:00": tf.MachineID,
			}
			for d, id := range dirs {
				if err := os.MkdirAll(filepath.Join(base, d), 0o700); err != nil {
					t.Fatal(err)
				}
				if id != "-" {
					b, _ := json.Marshal(dumpdir.Status{Result: dumpdir.Complete, Host: "crashbox", MachineID: id})
					os.WriteFile(filepath.Join(base, d, dumpdir.StatusFile), b, 0o600)
				}
			}
			os.WriteFile(filepath.Join(base, "crashbox-2017-01-01-00:00:00"), []byte("a file, not a dump directory"), 0o600)
			st := tf.run(t)
			if st.Result != dumpdir.Complete {
				t.Fatalf("result %s %q", st.Result, st.Error)
			}
			want := "crashbox-2019-06-01-12:00:00 crashbox-2020-01-01-00:00:00 crashbox-2021-01-01-00:00:00"
			if strings.Join(st.Pruned, " ") != want {
				t.Errorf("pruned %q, want %q", st.Pruned, want)
			}
			wantFiles(t, base, "crashbox-2016-01-01-00:00:00", "crashbox-2017-01-01-00:00:00", "crashbox-2018-01-01-00:00:00",
				"crashbox-2021-01-01-00:00:00.1", "crashbox-2026-11-26-07:08:09", "notes", "otherbox-2018-01-01-00:00:00",
				"x\ncrashbox-2017-01-01-00:00:00")
			if s, err := dumpdir.ReadStatus(filepath.Join(base, "crashbox-2026-11-26-07:08:09")); err != nil || s.MachineID != tf.MachineID {
				t.Errorf("the new dump's status carries machine-id %q (%v), want the flow's", s.MachineID, err)
			}
		})
	}
}

// TestFlowSSHKeepDumpsNoMachineID: an image that records no machine-id cannot tell
// this machine's dumps on a shared server: nothing is removed, and a warning says why.
func TestFlowSSHKeepDumpsNoMachineID(t *testing.T) {
	t.Parallel()
	tf, _, base := remoteFlow(t, sshtest.Options{}, "keep_dumps 1\n")
	old := filepath.Join(base, "crashbox-2020-01-01-00:00:00")
	os.MkdirAll(old, 0o700)
	os.WriteFile(filepath.Join(old, dumpdir.StatusFile), []byte(`{"result":"complete","host":"crashbox"}`), 0o600)
	st := tf.run(t)
	if st.Result != dumpdir.Complete || len(st.Pruned) != 0 || !strings.Contains(strings.Join(st.Warnings, "\n"), "no machine-id") {
		t.Fatalf("result %s pruned %v warnings %q", st.Result, st.Pruned, st.Warnings)
	}
	if _, err := os.Stat(old); err != nil {
		t.Errorf("the old dump is gone: %v", err)
	}
}
