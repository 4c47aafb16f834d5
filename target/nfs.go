package target

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

// NFS is a dump target on an NFS export, mounted with the kernel's own NFS client
// through mount(2) and text options, as mount.nfs would pass them (there is no
// mount.nfs, rpcbind or rpc.statd in the capture initramfs):
//
//   - NFSv4 (fstype nfs4): "vers=4,addr=SERVER,clientaddr=CLIENT": addr is required
//     (mount.nfs resolves the name and passes it), clientaddr is the address the
//     server calls back (v4.0 delegations).
//   - NFSv3 (fstype nfs): the kernel asks the server's rpcbind for the ports of nfsd
//     and mountd unless port= and mountport= are given; "nolock" keeps it from needing
//     lockd and rpc.statd here; proto=tcp and mountproto=tcp. v3 is used only when
//     the first kernel mounted the export with vers=3 (its options say the ports).
type NFS struct {
	Server     string // the server's address (an IP: there is no resolver)
	Export     string // the exported directory
	FSType     string // "nfs4" (default) or "nfs" (v3)
	Options    string // options besides addr= and clientaddr= ("" : "vers=4")
	MountPoint string
	// Wait bounds the attempts to mount (default 60 s): a server that is down
	// makes Mount fail when it is over.
	Wait time.Duration

	// ClientAddr is the local address towards the server (default: the source
	// address the kernel's routing picks, found with an unconnected UDP socket).
	ClientAddr func(server string) (string, error)
	mountFn    func(src, dir, fstype, data string) error

	mounted bool
}

func (n *NFS) String() string { return "nfs " + NFSSource(n.Server, n.Export) }

// NFSSource is the mount source server:/export, with an IPv6 address in brackets.
func NFSSource(server, export string) string {
	if a, err := netip.ParseAddr(server); err == nil && a.Is6() {
		return "[" + server + "]:" + export
	}
	return server + ":" + export
}

// Data is the mount data for the client address.
func (n *NFS) Data(client string) string {
	opts := n.Options
	if opts == "" {
		opts = "vers=4"
	}
	d := opts + ",addr=" + n.Server
	if n.fstype() == "nfs4" && client != "" {
		d += ",clientaddr=" + client
	}
	if n.fstype() == "nfs" {
		d += ",mountaddr=" + n.Server
	}
	return d
}

func (n *NFS) fstype() string {
	if n.FSType == "" {
		return "nfs4"
	}
	return n.FSType
}

// Mount mounts the export on n.MountPoint, retrying with back-off until n.Wait is
// over; each attempt runs apart so a mount(2) that hangs on a dead server does not
// hold the capture past its bound.
func (n *NFS) Mount(ctx context.Context) (string, error) {
	if _, err := netip.ParseAddr(n.Server); err != nil {
		return "", fmt.Errorf("target: nfs server %q is not an address: %v", n.Server, err)
	}
	if ft := n.fstype(); ft != "nfs4" && ft != "nfs" {
		return "", fmt.Errorf("target: nfs type %q", ft)
	}
	wait := n.Wait
	if wait <= 0 {
		wait = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := os.MkdirAll(n.MountPoint, 0o700); err != nil {
		return "", fmt.Errorf("target: %w", err)
	}
	caddr := n.ClientAddr
	if caddr == nil {
		caddr = localAddrTowards
	}
	mnt := n.mountFn
	if mnt == nil {
		mnt = mount
	}
	src := NFSSource(n.Server, n.Export)
	var last error
	d := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		client, err := caddr(n.Server)
		if err == nil {
			done := make(chan error, 1)
			data := n.Data(client)
			go func() { done <- mnt(src, n.MountPoint, n.fstype(), data) }()
			select {
			case err = <-done:
			case <-ctx.Done():
				// The attempt is left behind; PID 1 ends with the machine.
				err = fmt.Errorf("mount %s did not return", src)
			}
			if err == nil {
				n.mounted = true
				return n.MountPoint, nil
			}
			err = fmt.Errorf("mount %s on %s (%s, %s): %w", src, n.MountPoint, n.fstype(), data, err)
		}
		last = err
		if ctx.Err() != nil || attempt >= 100 {
			return "", fmt.Errorf("target: gave up after %s and %d attempts: %w", wait, attempt, last)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		d = min(2*d, 5*time.Second)
	}
}

// Unmount flushes and unmounts the export.
func (n *NFS) Unmount() error {
	if !n.mounted {
		return nil
	}
	n.mounted = false
	return unmount(n.MountPoint)
}

// localAddrTowards is the source address the kernel picks for server: connecting a
// UDP socket sends nothing but chooses the route.
func localAddrTowards(server string) (string, error) {
	c, err := net.Dial("udp", net.JoinHostPort(server, "2049"))
	if err != nil {
		return "", err
	}
	defer c.Close()
	a, ok := c.LocalAddr().(*net.UDPAddr)
	if !ok {
		return "", errors.New("no local address")
	}
	return a.IP.String(), nil
}

// nfsKeep are the first kernel's NFS mount options the capture reuses; the others
// are its own (addr=, clientaddr=) or say nothing the kernel needs.
var nfsKeep = map[string]bool{
	"vers": true, "nfsvers": true, "minorversion": true, "rsize": true, "wsize": true, "timeo": true,
	"retrans": true, "port": true, "proto": true, "mountport": true, "mountproto": true,
	"mountvers": true, "hard": true, "soft": true, "softerr": true, "sec": true, "nolock": true,
}

// ReuseNFSOptions turns the super options of the first kernel's NFS mount of the
// export (mountinfo, e.g. "rw,vers=4.2,rsize=1048576,...,addr=10.0.2.2") into the
// capture's options and file system type. A v3 mount gets nolock; its port= and
// mountport= are kept when present (without them the kernel asks the server's
// rpcbind). UDP becomes TCP. Kerberos security is refused: the capture has no gssd.
func ReuseNFSOptions(fstype, super string) (opts, ftype string, err error) {
	var kept []string
	vers := ""
	for _, o := range strings.Split(super, ",") {
		k, v, _ := strings.Cut(o, "=")
		if !nfsKeep[k] {
			continue
		}
		if !isOptionValue(v) {
			return "", "", fmt.Errorf("nfs mount option %q", o)
		}
		switch k {
		case "vers", "nfsvers":
			vers = v
		case "sec":
			if v != "sys" && v != "none" {
				return "", "", fmt.Errorf("nfs: the export is mounted with sec=%s: the capture kernel has no Kerberos (rpc.gssd); export it with sec=sys for dumps", v)
			}
		case "proto", "mountproto":
			if v == "udp" || v == "udp6" || v == "rdma" {
				v = strings.Replace(v, "udp", "tcp", 1)
				if v == "rdma" {
					v = "tcp"
				}
				o = k + "=" + v
			}
		}
		kept = append(kept, o)
	}
	ftype = "nfs4"
	switch {
	case vers == "" && fstype == "nfs4", strings.HasPrefix(vers, "4"):
	case vers == "3" || vers == "" && fstype == "nfs":
		ftype = "nfs"
		kept = append(kept, "nolock")
		if vers == "" {
			kept = append([]string{"vers=3"}, kept...)
		}
	default:
		return "", "", fmt.Errorf("nfs: version %q is not supported (only 3 and 4.x)", vers)
	}
	return strings.Join(dedup(kept), ","), ftype, nil
}

func isOptionValue(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".:_-", r)) {
			return false
		}
	}
	return true
}

func dedup(l []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range l {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
