package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/internal/mountinfo"
	"github.com/gokdump/gokdump/internal/smallfile"
	"github.com/gokdump/gokdump/kmod"
	"github.com/gokdump/gokdump/netconf"
	"github.com/gokdump/gokdump/target"
	"golang.org/x/crypto/ssh"
)

// SSHKeyPath is where the ssh target's private key is in the capture initramfs.
const SSHKeyPath = "etc/gokdump/ssh/id"

// RemoteTarget is what the capture kernel needs to reach an ssh or nfs server,
// recorded at start in CaptureInfo.
type RemoteTarget struct {
	// Network is the way to the server (its address resolved at start).
	Network *netconf.Config `json:"network"`
	SSH     *SSHTarget      `json:"ssh,omitempty"`
	NFS     *NFSTarget      `json:"nfs,omitempty"`
	S3      *S3Target       `json:"s3,omitempty"` // s3_capture yes (service/s3.go)
}

// SSHTarget is the ssh target as recorded.
type SSHTarget struct {
	User string `json:"user"`
	Port int    `json:"port,omitempty"`
	// Key is the private key's path in the image; KeySource the file it came from.
	Key       string `json:"key"`
	KeySource string `json:"key_source"`
	// HostKeys are the server's keys from known_hosts: the only ones accepted.
	HostKeys []HostKey `json:"host_keys"`
}

// NFSTarget is the nfs target as recorded.
type NFSTarget struct {
	Export  string `json:"export"`
	FSType  string `json:"fstype"`            // nfs4 or nfs (v3)
	Options string `json:"options,omitempty"` // besides addr= and clientaddr=
	// Reused names the first kernel's mount whose options are reused ("" : none).
	Reused string `json:"reused,omitempty"`
}

// String says in one line where dumps go and how (start and status print it).
func (r *RemoteTarget) String() string {
	s := ""
	switch {
	case r.SSH != nil:
		s = "ssh " + r.SSH.User + "@" + r.Network.Server
		if r.SSH.Port != 0 {
			s += fmt.Sprintf(" port %d", r.SSH.Port)
		}
	case r.S3 != nil:
		s = "s3://" + r.S3.Bucket + " at " + r.S3.Endpoint
	case r.NFS != nil:
		s = "nfs " + target.NFSSource(r.Network.Server, r.NFS.Export) + " (" + r.NFS.FSType
		if r.NFS.Options != "" {
			s += " " + r.NFS.Options
		}
		s += ")"
	}
	return s + ": " + r.Network.String() + " (the address was resolved at start: the capture kernel has no resolver)"
}

// nfsModules are the kernel's NFS client for each file system type.
var nfsModules = map[string][]string{"nfs4": {"nfsv4"}, "nfs": {"nfsv3"}}

// remoteTarget records the way to an ssh or nfs server: the network, the modules
// it needs (names), the files to copy into the image.
func (s *System) remoteTarget(cfg *config.Config, release string) (*RemoteTarget, []string, []PlanFile, error) {
	if cfg.S3.Capture {
		return s.s3Target(cfg, release)
	}
	t := cfg.Target
	line := fmt.Sprintf("%s:%d", cfg.File, t.Line)
	o := s.Net
	o.DHCP = o.DHCP || cfg.DHCP
	if o.SysRoot == "" {
		o.SysRoot = s.SysRoot
	}
	nc, err := netconf.Describe(context.Background(), t.Host, o)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %s %s: %w", line, t.Kind, t.Spec, err)
	}
	r := &RemoteTarget{Network: nc}
	mods := append([]string(nil), nc.Modules...)
	if running, err := s.Release(); err == nil && running != release {
		// A driver built into the running kernel may be a module of the release
		// armed: take it when that release has it.
		for _, d := range netconf.BuiltinDrivers(o.SysRoot, nc.Interface) {
			if _, err := kmod.Resolve(s.ModuleDir(release), kmod.Normalize(d)); err == nil {
				mods = append(mods, kmod.Normalize(d))
			}
		}
	}
	var files []PlanFile
	switch t.Kind {
	case config.TargetSSH:
		key := cfg.SSHKey
		keyLine := fmt.Sprintf("%s:%d", cfg.File, cfg.Lines["sshkey"])
		if key == "" {
			key, keyLine = config.DefaultSSHKey, line+" (sshkey not given: the default)"
		}
		if err := checkPrivateKey(key); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: sshkey %s: %w (gokdump propagate makes one and installs it on the server)", keyLine, key, err)
		}
		known := s.KnownHosts
		if known == nil {
			known = DefaultKnownHosts
		}
		names := []string{t.Host}
		if nc.Addr != t.Host {
			names = append(names, nc.Addr)
		}
		hk, err := KnownHostKeys(known, t.Port, names...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: ssh %s: %w", line, t.Spec, err)
		}
		r.SSH = &SSHTarget{User: t.User, Port: t.Port, Key: "/" + SSHKeyPath, KeySource: key, HostKeys: hk}
		files = append(files, PlanFile{Dest: SSHKeyPath, Src: key, Mode: 0o600})
	case config.TargetNFS:
		n := &NFSTarget{Export: t.Export, FSType: "nfs4"}
		if m, ok := s.nfsMount(t.Host, nc.Addr, t.Export); ok {
			opts, ft, err := target.ReuseNFSOptions(m.FSType, m.SuperOptions)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s: nfs %s is mounted on %s: %w", line, t.Spec, m.Point, err)
			}
			n.Options, n.FSType, n.Reused = opts, ft, m.Point
		}
		r.NFS = n
		mods = append(mods, nfsModules[n.FSType]...)
	default:
		return nil, nil, nil, fmt.Errorf("%s: %s is not a network target", line, t.Kind)
	}
	return r, mods, files, nil
}

// checkPrivateKey checks that key is a private key ssh can use without a
// passphrase (the capture kernel has nobody to type one), readable by root only.
func checkPrivateKey(key string) error {
	fi, err := os.Stat(key)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("mode %v: a private key must not be readable by others (chmod 600)", fi.Mode().Perm())
	}
	data, err := smallfile.Read(key, 1<<20)
	if err != nil {
		return err
	}
	if _, err := ssh.ParsePrivateKey(data); err != nil {
		var pp *ssh.PassphraseMissingError
		if errors.As(err, &pp) {
			return errors.New("the key has a passphrase, which nobody can type in the capture kernel")
		}
		return fmt.Errorf("not a private key ssh can use: %w", err)
	}
	return nil
}

// nfsMount finds a mount of host:/export (by name or address) in this machine's
// mountinfo.
func (s *System) nfsMount(host, addr, export string) (mountinfo.Mount, bool) {
	p := filepath.Join(s.ProcRoot, "self/mountinfo")
	data, err := smallfile.Read(p, maxSmallFile)
	if err != nil {
		return mountinfo.Mount{}, false
	}
	ms, err := mountinfo.Parse(bytes.NewReader(data), p)
	if err != nil {
		return mountinfo.Mount{}, false
	}
	for _, m := range ms {
		if m.FSType != "nfs" && m.FSType != "nfs4" {
			continue
		}
		for _, h := range []string{host, addr} {
			if m.Source == target.NFSSource(h, export) || m.Source == target.NFSSource(h, export)+"/" {
				return m, true
			}
		}
	}
	return mountinfo.Mount{}, false
}

// optionalModules resolves names that may be neither modules nor built in (a
// kernel built without them): those are left out with a note.
func optionalModules(modDir string, names []string) (keep []string, notes []string) {
	for _, n := range names {
		if _, err := kmod.Resolve(modDir, n); err != nil {
			var me *kmod.MissingError
			if errors.As(err, &me) {
				notes = append(notes, fmt.Sprintf("module %s is not in kernel %s (needed only if the network uses it)", n, filepath.Base(modDir)))
				continue
			}
		}
		keep = append(keep, n)
	}
	return keep, notes
}
