package service

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// fakeNet is a first kernel's netlink: lo, eth0 (10.0.2.15/24, static) and br0; the
// route to every address leaves by routeLink (0: no route).
type fakeNet struct {
	routeLink int
	gw        net.IP
	dynamic   bool
}

func (f *fakeNet) links() []netlink.Link {
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	return []netlink.Link{
		&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo", Flags: net.FlagLoopback}},
		&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 2, Name: "eth0", HardwareAddr: mac, MTU: 1500}},
		&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Index: 3, Name: "br0", HardwareAddr: mac}},
	}
}

func (f *fakeNet) RouteGet(dst net.IP) ([]netlink.Route, error) {
	if f.routeLink == 0 {
		return nil, unix.ENETUNREACH
	}
	return []netlink.Route{{LinkIndex: f.routeLink, Gw: f.gw}}, nil
}
func (f *fakeNet) LinkByIndex(i int) (netlink.Link, error) {
	for _, l := range f.links() {
		if l.Attrs().Index == i {
			return l, nil
		}
	}
	return nil, unix.ENODEV
}
func (f *fakeNet) LinkList() ([]netlink.Link, error) { return f.links(), nil }
func (f *fakeNet) AddrList(l netlink.Link, fam int) ([]netlink.Addr, error) {
	if l.Attrs().Index != 2 {
		return nil, nil
	}
	a := netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 0, 2, 15), Mask: net.CIDRMask(24, 32)}, Flags: unix.IFA_F_PERMANENT}
	if f.dynamic {
		a.Flags, a.ValidLft = 0, 86400
	}
	return []netlink.Addr{a}, nil
}
func (f *fakeNet) LinkSetUp(netlink.Link) error              { return errors.ErrUnsupported }
func (f *fakeNet) LinkSetMTU(netlink.Link, int) error        { return errors.ErrUnsupported }
func (f *fakeNet) LinkAdd(netlink.Link) error                { return errors.ErrUnsupported }
func (f *fakeNet) AddrAdd(netlink.Link, *netlink.Addr) error { return errors.ErrUnsupported }
func (f *fakeNet) RouteReplace(*netlink.Route) error         { return errors.ErrUnsupported }

func fakeResolve(_ context.Context, host string) ([]net.IP, error) {
	switch host {
	case "dumps.example":
		return []net.IP{net.ParseIP("10.0.2.100")}, nil
	case "moved.example":
		return []net.IP{net.ParseIP("10.0.2.101")}, nil
	}
	return nil, errors.New("no such host (fake resolver)")
}

// networked gives the fake machine a route to 10.0.2.0/24 by eth0 (virtio_net),
// the NFS modules, a user key and a known_hosts entry for dumps.example.
func networked(t *testing.T) (*fakeMachine, string, string) {
	m := newFakeMachine(t)
	m.Net.Netlink = &fakeNet{routeLink: 2}
	dev := "devices/pci0000:00/0000:00:03.0/virtio0"
	m.mkdir("sys/" + dev + "/net/eth0")
	m.symlink("sys/class/net/eth0", "../../"+dev+"/net/eth0")
	m.symlink("sys/"+dev+"/net/eth0/device", "../..")
	m.symlink("sys/"+dev+"/driver", "../../../../bus/virtio/drivers/virtio_net")
	m.mkdir("sys/module/virtio_net")
	m.symlink("sys/bus/virtio/drivers/virtio_net/module", "../../../../module/virtio_net")
	dep, _ := os.ReadFile(m.path("lib/modules/" + testRelease + "/modules.dep"))
	for p, deps := range map[string]string{
		"kernel/fs/nfs/nfsv4.ko":         "kernel/fs/nfs/nfs.ko kernel/net/sunrpc/sunrpc.ko",
		"kernel/fs/nfs/nfsv3.ko":         "kernel/fs/nfs/nfs.ko kernel/net/sunrpc/sunrpc.ko",
		"kernel/fs/nfs/nfs.ko":           "kernel/net/sunrpc/sunrpc.ko",
		"kernel/net/sunrpc/sunrpc.ko":    "",
		"kernel/net/packet/af_packet.ko": "",
	} {
		m.write("lib/modules/"+testRelease+"/"+p, "module "+p)
		dep = append(dep, []byte(p+": "+deps+"\n")...)
	}
	m.write("lib/modules/"+testRelease+"/modules.dep", string(dep))

	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, _ := ssh.MarshalPrivateKey(priv, "")
	key := m.path("root/.ssh/kdump_id_ed25519")
	m.write("root/.ssh/kdump_id_ed25519", string(pem.EncodeToMemory(blk)))
	os.Chmod(key, 0o600)
	hpub, _, _ := ed25519.GenerateKey(rand.Reader)
	hk, _ := ssh.NewPublicKey(hpub)
	hostKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hk)))
	m.write("root/.ssh/known_hosts", "10.0.2.100 "+hostKey+"\n")
	return m, key, hostKey
}

func netModuleNames(mods []string) string {
	var names []string
	for _, mod := range mods {
		b := filepath.Base(mod)
		names = append(names, b[:strings.Index(b, ".ko")])
	}
	return strings.Join(names, " ")
}

func TestPlanSSH(t *testing.T) {
	m, key, hostKey := networked(t)
	p, err := m.Plan(BuildOptions{Config: mustConfig(t, "ssh kdump@dumps.example\nsshkey "+key+"\npath /srv/dumps"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Info.Remote
	if r == nil || r.SSH == nil || r.Network.Addr != "10.0.2.100" || r.Network.MAC != "52:54:00:12:34:56" || r.Network.DHCP {
		t.Fatalf("remote %+v", r)
	}
	if len(r.SSH.HostKeys) != 1 || r.SSH.HostKeys[0].Key != hostKey || r.SSH.Key != "/"+SSHKeyPath || r.SSH.User != "kdump" {
		t.Fatalf("ssh %+v", r.SSH)
	}
	if got := netModuleNames(p.Info.Modules); got != "virtio_ring virtio_net" {
		t.Errorf("modules %s", got)
	}
	found := false
	for _, f := range p.Files {
		if f.Dest == SSHKeyPath {
			found = f.Src == key && f.Mode == 0o600
		}
	}
	if !found {
		t.Errorf("the key is not in the image: %+v", p.Files)
	}
	if !strings.Contains(strings.Join(p.Info.Notes, "\n"), "dumps go to ssh kdump@dumps.example: dumps.example at 10.0.2.100 via eth0") {
		t.Errorf("notes %q", p.Info.Notes)
	}
	// The recorded address is part of the manifest: a server that moved rebuilds.
	m1, _ := p.Manifest()
	m.write("root/.ssh/known_hosts", "10.0.2.101 "+hostKey+"\n")
	p2, err := m.Plan(BuildOptions{Config: mustConfig(t, "ssh kdump@moved.example\nsshkey "+key+"\npath /srv/dumps"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := p2.Manifest()
	m2.Config = m1.Config // the same file, say
	if why := RebuildReason(mustConfig(t, ""), true, m1, m2); !strings.Contains(why, "the way to its server") {
		t.Errorf("rebuild reason %q", why)
	}
}

func TestPlanNetworkRefusals(t *testing.T) {
	self := func(m *fakeMachine) string { return m.path("usr/sbin/gokdump") }
	for _, tc := range []struct {
		name, conf string
		edit       func(m *fakeMachine, key string)
		want       string
	}{
		{"no key file", "ssh kdump@dumps.example\nsshkey /nonexistent/id", nil, "kdump.conf:2: sshkey /nonexistent/id: stat /nonexistent/id: no such file"},
		{"default key missing", "ssh kdump@dumps.example", nil, "sshkey not given: the default"},
		{"key readable by others", "ssh kdump@dumps.example\nsshkey KEY", func(m *fakeMachine, key string) { os.Chmod(key, 0o644) }, "chmod 600"},
		{"unknown host key", "ssh kdump@dumps.example:2222\nsshkey KEY", nil, "kdump.conf:1: ssh kdump@dumps.example:2222: no known host key for [dumps.example]:2222, [10.0.2.100]:2222"},
		{"bridge", "nfs dumps.example:/export", func(m *fakeMachine, _ string) { m.Net.Netlink = &fakeNet{routeLink: 3} }, "kdump.conf:1: nfs dumps.example:/export: netconf: interface kind not supported in the capture kernel: the route to dumps.example (10.0.2.100) leaves by br0, a bridge"},
		{"no route", "nfs dumps.example:/export", func(m *fakeMachine, _ string) { m.Net.Netlink = &fakeNet{} }, "route to dumps.example (10.0.2.100): network is unreachable"},
		{"unresolvable", "nfs nowhere.example:/export", nil, "resolving nowhere.example"},
		{"kerberos", "nfs dumps.example:/export", func(m *fakeMachine, _ string) {
			mi, _ := os.ReadFile(m.path("proc/self/mountinfo"))
			m.write("proc/self/mountinfo", string(mi)+"40 21 0:50 / /mnt/dumps rw - nfs4 dumps.example:/export rw,vers=4.2,sec=krb5\n")
		}, "no Kerberos"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, key, _ := networked(t)
			if tc.edit != nil {
				tc.edit(m, key)
			}
			_, err := m.Plan(BuildOptions{Config: mustConfig(t, strings.ReplaceAll(tc.conf, "KEY", key)), Self: self(m)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v\nwant %q", err, tc.want)
			}
		})
	}
}

func TestPlanNFS(t *testing.T) {
	m, _, _ := networked(t)
	m.Net.Netlink = &fakeNet{routeLink: 2, dynamic: true}
	p, err := m.Plan(BuildOptions{Config: mustConfig(t, "nfs dumps.example:/export\npath /crash"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Info.Remote
	if r.NFS == nil || r.NFS.FSType != "nfs4" || r.NFS.Options != "" || !r.Network.DHCP {
		t.Fatalf("%+v %+v", r.NFS, r.Network)
	}
	if got := netModuleNames(p.Info.Modules); got != "virtio_ring virtio_net sunrpc nfs nfsv4 af_packet" {
		t.Errorf("modules %s", got)
	}
	// Mounted here as v3: its options are reused.
	mi, _ := os.ReadFile(m.path("proc/self/mountinfo"))
	m.write("proc/self/mountinfo", string(mi)+"40 21 0:50 / /mnt/dumps rw - nfs 10.0.2.100:/export rw,vers=3,proto=tcp,port=2049,mountport=20048,mountproto=udp,addr=10.0.2.100\n")
	p, err = m.Plan(BuildOptions{Config: mustConfig(t, "nfs dumps.example:/export\npath /crash"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Info.Remote.NFS; n.FSType != "nfs" || n.Options != "vers=3,proto=tcp,port=2049,mountport=20048,mountproto=tcp,nolock" || n.Reused != "/mnt/dumps" {
		t.Fatalf("%+v", n)
	}
	if got := netModuleNames(p.Info.Modules); !strings.Contains(got, "nfsv3") {
		t.Errorf("modules %s", got)
	}
}

// TestStatusShowsRecordedServer: status says how the armed image reaches the server,
// with the address start resolved.
func TestStatusShowsRecordedServer(t *testing.T) {
	m, key, _ := networked(t)
	m.setKexecFiles("old", true, 256<<20)
	cfg := mustConfig(t, "ssh kdump@dumps.example\nsshkey "+key+"\npath /srv/dumps")
	p, err := m.Plan(BuildOptions{Config: cfg, Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Build(m.ImagePath(testRelease)); err != nil {
		t.Fatal(err)
	}
	st, err := m.ReadStatus(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.DumpDirNote, "as armed: ssh kdump@dumps.example: dumps.example at 10.0.2.100 via eth0 (52:54:00:12:34:56) 10.0.2.15/24") ||
		!strings.Contains(st.DumpDirNote, "resolved at start") {
		t.Errorf("status note %q", st.DumpDirNote)
	}
}

// TestPlanNICBuiltinHere: the NIC's driver is built into the running kernel but a
// module of the release armed: the image takes it from that release.
func TestPlanNICBuiltinHere(t *testing.T) {
	m, key, _ := networked(t)
	os.Remove(m.path("sys/bus/virtio/drivers/virtio_net/module")) // built in here
	const other = "6.12.0-other-amd64"
	m.otherRelease(t, other, func(dep, builtin string) (string, string) { return dep, builtin })
	conf := mustConfig(t, "ssh kdump@dumps.example\nsshkey "+key)
	p, err := m.Plan(BuildOptions{Config: conf, Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	if got := netModuleNames(p.Info.Modules); got != "" {
		t.Errorf("same release: modules %q, want none (built in)", got)
	}
	p, err = m.Plan(BuildOptions{Config: conf, Release: other, Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	if got := netModuleNames(p.Info.Modules); got != "virtio_ring virtio_net" {
		t.Errorf("release %s: modules %q", other, got)
	}
}
