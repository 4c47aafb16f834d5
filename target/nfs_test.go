package target

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReuseNFSOptions(t *testing.T) {
	for _, tc := range []struct {
		fstype, super, opts, ftype, err string
	}{
		{"nfs4", "rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=10.0.2.15,local_lock=none,addr=10.0.2.2",
			"vers=4.2,rsize=1048576,wsize=1048576,hard,proto=tcp,timeo=600,retrans=2,sec=sys", "nfs4", ""},
		{"nfs", "rw,relatime,vers=3,rsize=65536,wsize=65536,namlen=255,hard,proto=udp,timeo=11,retrans=3,sec=sys,mountaddr=10.0.2.2,mountvers=3,mountport=20048,mountproto=udp,local_lock=none,addr=10.0.2.2",
			"vers=3,rsize=65536,wsize=65536,hard,proto=tcp,timeo=11,retrans=3,sec=sys,mountvers=3,mountport=20048,mountproto=tcp,nolock", "nfs", ""},
		{"nfs", "rw,hard", "vers=3,hard,nolock", "nfs", ""},
		{"nfs4", "rw,vers=4.1,sec=krb5p", "", "", "no Kerberos"},
		{"nfs", "rw,vers=2", "", "", `version "2"`},
		{"nfs4", "rw,vers=4,port=2049;reboot", "", "", "nfs mount option"},
	} {
		opts, ftype, err := ReuseNFSOptions(tc.fstype, tc.super)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.super, err, tc.err)
			}
			continue
		}
		if err != nil || opts != tc.opts || ftype != tc.ftype {
			t.Errorf("%s:\n got %q %q %v\nwant %q %q", tc.super, opts, ftype, err, tc.opts, tc.ftype)
		}
	}
}

func TestNFSData(t *testing.T) {
	n := &NFS{Server: "10.0.2.100", Export: "/export"}
	if d := n.Data("10.0.2.15"); d != "vers=4,addr=10.0.2.100,clientaddr=10.0.2.15" {
		t.Error(d)
	}
	n = &NFS{Server: "fd00::1", Export: "/e", FSType: "nfs", Options: "vers=3,nolock,port=2049,mountport=20048"}
	if d := n.Data("fd00::2"); d != "vers=3,nolock,port=2049,mountport=20048,addr=fd00::1,mountaddr=fd00::1" {
		t.Error(d)
	}
	if s := n.String(); s != "nfs [fd00::1]:/e" {
		t.Error(s)
	}
}

func TestNFSMountRetriesThenMounts(t *testing.T) {
	var calls []string
	n := &NFS{Server: "10.0.2.100", Export: "/export", MountPoint: t.TempDir() + "/m", Wait: 10 * time.Second,
		ClientAddr: func(string) (string, error) { return "10.0.2.15", nil },
		mountFn: func(src, dir, fstype, data string) error {
			calls = append(calls, src+" "+fstype+" "+data)
			if len(calls) < 3 {
				return errors.New("connection refused")
			}
			return nil
		}}
	root, err := n.Mount(context.Background())
	if err != nil || root != n.MountPoint || len(calls) != 3 || calls[2] != "10.0.2.100:/export nfs4 vers=4,addr=10.0.2.100,clientaddr=10.0.2.15" {
		t.Fatalf("%v %v", err, calls)
	}
}

func TestNFSMountDeadServerBounded(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	n := &NFS{Server: "10.0.2.100", Export: "/export", MountPoint: t.TempDir() + "/m", Wait: 400 * time.Millisecond,
		ClientAddr: func(string) (string, error) { return "10.0.2.15", nil },
		mountFn:    func(src, dir, fstype, data string) error { <-block; return nil }} // hangs as on a dead server
	start := time.Now()
	_, err := n.Mount(context.Background())
	if err == nil || !strings.Contains(err.Error(), "gave up after 400ms") || !strings.Contains(err.Error(), "did not return") {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s", d)
	}
}

func FuzzReuseNFSOptions(f *testing.F) {
	f.Add("nfs4", "rw,vers=4.2,rsize=1048576,hard,proto=tcp,sec=sys,clientaddr=10.0.2.15,addr=10.0.2.2")
	f.Add("nfs", "rw,vers=3,mountport=20048,mountproto=udp,addr=10.0.2.2")
	f.Fuzz(func(t *testing.T, fstype, super string) {
		opts, ft, err := ReuseNFSOptions(fstype, super)
		if err != nil {
			return
		}
		if ft != "nfs" && ft != "nfs4" {
			t.Fatalf("type %q", ft)
		}
		// Nothing from outside may add options of its own: only kept keys and values.
		for _, o := range strings.Split(opts, ",") {
			k, v, _ := strings.Cut(o, "=")
			if !nfsKeep[k] || !isOptionValue(v) {
				t.Fatalf("option %q from %q", o, super)
			}
		}
	})
}
