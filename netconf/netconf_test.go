package netconf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeNetlink is a kernel with a few links, addresses and one route answer.
type fakeNetlink struct {
	links  []netlink.Link
	addrs  map[int][]netlink.Addr
	route  netlink.Route
	noLink int // LinkList hides device links this many times (a driver probing)
	down   int // links report no carrier this many more times after LinkSetUp

	up     []string
	added  []string
	routes []string
	mtu    map[string]int
}

func (f *fakeNetlink) RouteGet(dst net.IP) ([]netlink.Route, error) {
	if f.route.LinkIndex == 0 {
		return nil, unix.ENETUNREACH
	}
	return []netlink.Route{f.route}, nil
}
func (f *fakeNetlink) LinkByIndex(i int) (netlink.Link, error) {
	for _, l := range f.links {
		if l.Attrs().Index == i {
			return l, nil
		}
	}
	return nil, unix.ENODEV
}
func (f *fakeNetlink) LinkList() ([]netlink.Link, error) {
	if f.noLink > 0 {
		f.noLink--
		return f.links[:1], nil // lo only
	}
	for _, l := range f.links {
		if contains(f.up, l.Attrs().Name) {
			if f.down > 0 {
				l.Attrs().OperState = netlink.OperDown
			} else {
				l.Attrs().OperState = netlink.OperUp
			}
		}
	}
	if f.down > 0 && len(f.up) > 1 {
		f.down--
	}
	return f.links, nil
}
func (f *fakeNetlink) AddrList(l netlink.Link, fam int) ([]netlink.Addr, error) {
	return f.addrs[l.Attrs().Index], nil
}
func (f *fakeNetlink) LinkSetUp(l netlink.Link) error {
	f.up = append(f.up, l.Attrs().Name)
	return nil
}
func (f *fakeNetlink) LinkSetMTU(l netlink.Link, mtu int) error {
	if f.mtu == nil {
		f.mtu = map[string]int{}
	}
	f.mtu[l.Attrs().Name] = mtu
	return nil
}
func (f *fakeNetlink) LinkAdd(l netlink.Link) error {
	l.Attrs().Index = 100
	f.links = append(f.links, l)
	return nil
}
func (f *fakeNetlink) AddrAdd(l netlink.Link, a *netlink.Addr) error {
	f.added = append(f.added, l.Attrs().Name+" "+a.IPNet.String())
	return nil
}
func (f *fakeNetlink) RouteReplace(r *netlink.Route) error {
	f.routes = append(f.routes, r.Dst.String()+" via "+r.Gw.String())
	return nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func mac(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }

func ipnet(s string) *net.IPNet {
	p := netip.MustParsePrefix(s)
	return prefixNet(p)
}

// machine: lo, eth0 (virtio_net, 10.0.2.15/24 static, 2001:db8::15/64 dynamic), br0, and
// eth0.42 (a VLAN on eth0).
func machine() *fakeNetlink {
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo", Flags: net.FlagLoopback | net.FlagUp, MTU: 65536}}
	eth := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 2, Name: "eth0", HardwareAddr: mac("52:54:00:12:34:56"), MTU: 1500, Flags: net.FlagUp}}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Index: 3, Name: "br0", HardwareAddr: mac("52:54:00:aa:bb:cc")}}
	vl := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Index: 4, Name: "eth0.42", ParentIndex: 2, HardwareAddr: mac("52:54:00:12:34:56"), MTU: 1496}, VlanId: 42}
	return &fakeNetlink{
		links: []netlink.Link{lo, eth, br, vl},
		addrs: map[int][]netlink.Addr{
			2: {
				{IPNet: ipnet("10.0.2.15/24"), Flags: unix.IFA_F_PERMANENT},
				{IPNet: ipnet("2001:db8::15/64"), ValidLft: 3600},
				{IPNet: ipnet("fe80::5054:ff:fe12:3456/64"), Flags: unix.IFA_F_PERMANENT},
			},
			4: {{IPNet: ipnet("192.168.42.7/24"), ValidLft: 86400}},
			3: {{IPNet: ipnet("10.9.0.1/16"), Flags: unix.IFA_F_PERMANENT}},
		},
		route: netlink.Route{LinkIndex: 2, Gw: net.ParseIP("10.0.2.2")},
	}
}

// sysfs makes class/net/NAME/device/driver/module links for eth0 (virtio_net) and
// a device with a built-in driver (eth1).
func sysfs(t *testing.T) string {
	root := t.TempDir()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		if err := os.Symlink(filepath.Join(root, target), filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	mk("module/virtio_net")
	mk("module/virtio_pci")
	mk("bus/pci/drivers/virtio-pci")
	mk("bus/virtio/drivers/virtio_net")
	mk("bus/pci/drivers/e1000")
	mk("devices/pci0000:00/0000:00:03.0/virtio0/net/eth0")
	mk("devices/pci0000:00/0000:00:04.0/net/eth1")
	mk("class/net")
	link("module/virtio_net", "bus/virtio/drivers/virtio_net/module")
	link("module/virtio_pci", "bus/pci/drivers/virtio-pci/module")
	link("bus/pci/drivers/virtio-pci", "devices/pci0000:00/0000:00:03.0/driver")
	link("bus/virtio/drivers/virtio_net", "devices/pci0000:00/0000:00:03.0/virtio0/driver")
	link("devices/pci0000:00/0000:00:03.0/virtio0", "devices/pci0000:00/0000:00:03.0/virtio0/net/eth0/device")
	link("bus/pci/drivers/e1000", "devices/pci0000:00/0000:00:04.0/driver")
	link("devices/pci0000:00/0000:00:04.0", "devices/pci0000:00/0000:00:04.0/net/eth1/device")
	link("devices/pci0000:00/0000:00:03.0/virtio0/net/eth0", "class/net/eth0")
	link("devices/pci0000:00/0000:00:04.0/net/eth1", "class/net/eth1")
	mk("devices/virtual/net/br0")
	link("devices/virtual/net/br0", "class/net/br0")
	return root
}

func resolver(ips ...string) func(context.Context, string) ([]net.IP, error) {
	return func(_ context.Context, h string) ([]net.IP, error) {
		if h != "dumps.example" {
			return nil, errors.New("no such host")
		}
		var out []net.IP
		for _, s := range ips {
			out = append(out, net.ParseIP(s))
		}
		return out, nil
	}
}

func TestDescribeStaticWithGateway(t *testing.T) {
	nl := machine()
	c, err := Describe(context.Background(), "dumps.example", Options{Netlink: nl, SysRoot: sysfs(t), Resolve: resolver("2001:db8::1", "192.0.2.10")})
	if err != nil {
		t.Fatal(err)
	}
	// IPv4 preferred; the static IPv4 address does not ask for DHCP; the link-local
	// address is left to the kernel; the dynamic IPv6 one is kept as is.
	want := Config{Server: "dumps.example", Addr: "192.0.2.10", Interface: "eth0", MAC: "52:54:00:12:34:56", MTU: 1500,
		Addrs: []string{"10.0.2.15/24", "2001:db8::15/64"}, Gateway: "10.0.2.2", Modules: []string{"virtio_net"}}
	if got := *c; got.String() != want.String() || strings.Join(got.Modules, ",") != "virtio_net,virtio_pci" || got.DHCP {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if !strings.Contains(c.String(), "dumps.example at 192.0.2.10 via eth0") {
		t.Errorf("String: %s", c)
	}
}

func TestDescribeDynamicAddressAsksDHCP(t *testing.T) {
	nl := machine()
	nl.addrs[2][0].Flags = 0
	nl.addrs[2][0].ValidLft = 600
	nl.route = netlink.Route{LinkIndex: 2} // on link
	c, err := Describe(context.Background(), "10.0.2.100", Options{Netlink: nl, SysRoot: sysfs(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !c.DHCP || c.Gateway != "" || c.Addr != "10.0.2.100" {
		t.Fatalf("%+v", c)
	}
	// kdump_dhcp asks for it with a static address too.
	nl = machine()
	c, err = Describe(context.Background(), "[2001:db8::1]", Options{Netlink: nl, SysRoot: sysfs(t), DHCP: true})
	if err != nil || !c.DHCP || c.Addr != "2001:db8::1" {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestDescribeVLAN(t *testing.T) {
	nl := machine()
	nl.route = netlink.Route{LinkIndex: 4}
	c, err := Describe(context.Background(), "192.168.42.1", Options{Netlink: nl, SysRoot: sysfs(t)})
	if err != nil {
		t.Fatal(err)
	}
	if c.VLAN == nil || c.VLAN.ID != 42 || c.MAC != "52:54:00:12:34:56" || strings.Join(c.Modules, " ") != "virtio_net virtio_pci 8021q" || !c.DHCP {
		t.Fatalf("%+v %+v", c, c.VLAN)
	}
}

func TestDescribeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*fakeNetlink)
		sys   func(root string)
		want  string
		unsup bool
	}{
		{"bridge", func(n *fakeNetlink) { n.route.LinkIndex = 3 }, nil, "br0, a bridge: bonds and bridges are not set up", true},
		{"bond", func(n *fakeNetlink) {
			n.links[2] = &netlink.Bond{LinkAttrs: netlink.LinkAttrs{Index: 3, Name: "bond0"}}
			n.route.LinkIndex = 3
		}, nil, "bond0, a bond", true},
		{"loopback", func(n *fakeNetlink) { n.route.LinkIndex = 1 }, nil, "the server is this machine", true},
		{"no route", func(n *fakeNetlink) { n.route.LinkIndex = 0 }, nil, "route to 192.0.2.10", false},
		{"no address", func(n *fakeNetlink) { n.addrs[2] = nil }, nil, "no IPv4 address", false},
		{"enslaved", func(n *fakeNetlink) { n.links[1].Attrs().MasterIndex = 3 }, nil, "enslaved", true},
		{"built-in driver unbound", nil, func(root string) { os.Remove(filepath.Join(root, "devices/pci0000:00/0000:00:03.0/virtio0/driver")) }, "no driver bound", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nl := machine()
			if tc.edit != nil {
				tc.edit(nl)
			}
			root := sysfs(t)
			if tc.sys != nil {
				tc.sys(root)
			}
			_, err := Describe(context.Background(), "192.0.2.10", Options{Netlink: nl, SysRoot: root})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if errors.Is(err, ErrUnsupported) != tc.unsup {
				t.Errorf("errors.Is(ErrUnsupported) = %v", !tc.unsup)
			}
		})
	}
	if _, err := Describe(context.Background(), "nowhere.example", Options{Netlink: machine(), SysRoot: sysfs(t), Resolve: resolver()}); err == nil || !strings.Contains(err.Error(), "no resolver") {
		t.Errorf("unresolvable: %v", err)
	}
}

func TestDriverModules(t *testing.T) {
	root := sysfs(t)
	for name, want := range map[string]string{"eth0": "virtio_net virtio_pci", "eth1": ""} {
		got, err := DriverModules(root, name)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("%s: %q %v, want %q", name, got, err, want)
		}
	}
	if got := strings.Join(BuiltinDrivers(root, "eth1"), " "); got != "e1000" {
		t.Errorf("built-in drivers of eth1: %q", got)
	}
	if got := BuiltinDrivers(root, "eth0"); len(got) != 0 {
		t.Errorf("built-in drivers of eth0: %q", got)
	}
	if _, err := DriverModules(root, "br0"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("br0: %v", err)
	}
	if _, err := DriverModules(root, "../eth0"); err == nil {
		t.Error("a name with a slash was accepted")
	}
}

func noSleep(ctx context.Context, d time.Duration) error { return ctx.Err() }

func TestUpStatic(t *testing.T) {
	nl := machine()
	nl.links[1].Attrs().Name = "ens3" // another name in the capture kernel
	nl.links[1].Attrs().MTU = 1400
	nl.noLink, nl.down = 3, 2
	c := &Config{Server: "dumps", Addr: "192.0.2.10", Interface: "eth0", MAC: "52:54:00:12:34:56", MTU: 1500,
		Addrs: []string{"10.0.2.15/24", "2001:db8::15/64"}, Gateway: "10.0.2.2"}
	name, err := Up(context.Background(), c, UpOptions{Netlink: nl, Sleep: noSleep})
	if err != nil {
		t.Fatal(err)
	}
	if name != "ens3" || nl.mtu["ens3"] != 1500 || !contains(nl.up, "lo") || !contains(nl.up, "ens3") {
		t.Fatalf("name %s mtu %v up %v", name, nl.mtu, nl.up)
	}
	if strings.Join(nl.added, ";") != "ens3 10.0.2.15/24;ens3 2001:db8::15/64" || strings.Join(nl.routes, ";") != "192.0.2.10/32 via 10.0.2.2" {
		t.Fatalf("added %v routes %v", nl.added, nl.routes)
	}
}

func TestUpDHCPAndVLAN(t *testing.T) {
	nl := machine()
	c := &Config{Server: "dumps", Addr: "192.0.2.10", Interface: "eth0.42", MAC: "52:54:00:12:34:56", DHCP: true,
		Addrs: []string{"192.168.42.7/24"}, VLAN: &VLAN{ID: 42, ParentMAC: "52:54:00:12:34:56", Name: "eth0.42"}}
	tries := 0
	dhcp := func(ctx context.Context, ifname string) (*Lease, error) {
		if ifname != "eth0.42" {
			t.Errorf("DHCP on %s", ifname)
		}
		if tries++; tries < 3 {
			return nil, errors.New("no offer")
		}
		return &Lease{Addr: netip.MustParsePrefix("192.168.42.9/24"), Gateway: netip.MustParseAddr("192.168.42.1")}, nil
	}
	name, err := Up(context.Background(), c, UpOptions{Netlink: nl, Sleep: noSleep, DHCP: dhcp})
	if err != nil {
		t.Fatal(err)
	}
	if name != "eth0.42" || tries != 3 || strings.Join(nl.added, ";") != "eth0.42 192.168.42.9/24" || strings.Join(nl.routes, ";") != "192.0.2.10/32 via 192.168.42.1" {
		t.Fatalf("name %s tries %d added %v routes %v", name, tries, nl.added, nl.routes)
	}
}

func TestUpBounded(t *testing.T) {
	// No interface with the MAC (its driver missing): Up gives up when its time is up.
	nl := machine()
	c := &Config{Server: "dumps", Addr: "192.0.2.10", MAC: "52:54:00:00:00:01", Addrs: []string{"10.0.2.15/24"}}
	start := time.Now()
	_, err := Up(context.Background(), c, UpOptions{Netlink: nl, Timeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no interface has MAC 52:54:00:00:00:01") || time.Since(start) > 5*time.Second {
		t.Fatalf("%v after %s", err, time.Since(start))
	}
	// No carrier.
	nl = machine()
	nl.down = 1 << 30
	c.MAC = "52:54:00:12:34:56"
	_, err = Up(context.Background(), c, UpOptions{Netlink: nl, Timeout: time.Second, Carrier: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no carrier") {
		t.Fatal(err)
	}
}

// TestRetryDump: a dump the kernel interrupted is asked again, a bounded number of
// times; other errors and a consistent answer are returned at once.
func TestRetryDump(t *testing.T) {
	calls := 0
	interruptedTwice := func() ([]int, error) {
		calls++
		if calls <= 2 {
			return []int{1}, netlink.ErrDumpInterrupted
		}
		return []int{1, 2}, nil
	}
	if r, err := retryDump(interruptedTwice); err != nil || len(r) != 2 || calls != 3 {
		t.Errorf("interrupted twice: %v, %v after %d calls", r, err, calls)
	}
	calls = 0
	always := func() ([]int, error) { calls++; return nil, netlink.ErrDumpInterrupted }
	if _, err := retryDump(always); !errors.Is(err, netlink.ErrDumpInterrupted) || calls != dumpTries {
		t.Errorf("always interrupted: %v after %d calls, want the error after %d", err, calls, dumpTries)
	}
	calls = 0
	other := errors.New("no such device")
	failing := func() ([]int, error) { calls++; return nil, other }
	if _, err := retryDump(failing); err != other || calls != 1 {
		t.Errorf("another error: %v after %d calls", err, calls)
	}
}
