package netconf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Config is the way to the dump server, as recorded at start for the capture kernel.
type Config struct {
	// Server is the server as configured (a name or an address); Addr is the address
	// it resolved to at start, which the capture kernel uses.
	Server string `json:"server"`
	Addr   string `json:"addr"`
	// Interface is the first kernel's name of the interface (for messages only: the
	// capture kernel finds it by MAC).
	Interface string `json:"interface"`
	MAC       string `json:"mac"`
	// VLAN is set for a VLAN interface: MAC is then the parent's (which the VLAN
	// interface shares unless configured otherwise) and the capture adds the VLAN.
	VLAN *VLAN `json:"vlan,omitempty"`
	MTU  int   `json:"mtu,omitempty"`
	// DHCP asks the capture kernel to get an IPv4 address by DHCP instead of Addrs'
	// IPv4 entries.
	DHCP bool `json:"dhcp,omitempty"`
	// Addrs are the interface's addresses with their prefix length (CIDR).
	Addrs []string `json:"addrs"`
	// Gateway is the next hop of the route to Addr ("" when the server is on the link).
	Gateway string `json:"gateway,omitempty"`
	// Modules are the kernel modules of the interface's driver (and 8021q for a VLAN);
	// empty when the driver is built in.
	Modules []string `json:"modules,omitempty"`
}

// VLAN is an 802.1Q interface on a parent interface.
type VLAN struct {
	ID        int    `json:"id"`
	ParentMAC string `json:"parent_mac"`
	Name      string `json:"name"`
}

// Netlink is the part of the kernel's routing interface Describe and Up use;
// RealNetlink is the kernel's.
type Netlink interface {
	RouteGet(dst net.IP) ([]netlink.Route, error)
	LinkByIndex(index int) (netlink.Link, error)
	LinkList() ([]netlink.Link, error)
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
	LinkSetUp(link netlink.Link) error
	LinkSetMTU(link netlink.Link, mtu int) error
	LinkAdd(link netlink.Link) error
	AddrAdd(link netlink.Link, addr *netlink.Addr) error
	RouteReplace(route *netlink.Route) error
}

type realNetlink struct{}

// RealNetlink speaks to the running kernel.
var RealNetlink Netlink = realNetlink{}

func (realNetlink) RouteGet(dst net.IP) ([]netlink.Route, error) { return netlink.RouteGet(dst) }
func (realNetlink) LinkByIndex(i int) (netlink.Link, error)      { return netlink.LinkByIndex(i) }
func (realNetlink) LinkList() ([]netlink.Link, error) {
	return retryDump(netlink.LinkList)
}
func (realNetlink) AddrList(l netlink.Link, f int) ([]netlink.Addr, error) {
	return retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(l, f) })
}

// dumpTries bounds the attempts at a netlink dump. The kernel marks a dump interrupted
// when what it lists changes meanwhile (an IPv6 address leaving its tentative state
// right after the link comes up), and the library then returns ErrDumpInterrupted
// with partial results; asking again gets a consistent list.
const dumpTries = 5

func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	for i := 1; ; i++ {
		r, err := dump()
		if i == dumpTries || !errors.Is(err, netlink.ErrDumpInterrupted) {
			return r, err
		}
	}
}
func (realNetlink) LinkSetUp(l netlink.Link) error                { return netlink.LinkSetUp(l) }
func (realNetlink) LinkSetMTU(l netlink.Link, mtu int) error      { return netlink.LinkSetMTU(l, mtu) }
func (realNetlink) LinkAdd(l netlink.Link) error                  { return netlink.LinkAdd(l) }
func (realNetlink) AddrAdd(l netlink.Link, a *netlink.Addr) error { return netlink.AddrAdd(l, a) }
func (realNetlink) RouteReplace(r *netlink.Route) error           { return netlink.RouteReplace(r) }

// Options are Describe's inputs besides the server.
type Options struct {
	// DHCP is kdump.conf's kdump_dhcp: use DHCP in the capture kernel regardless.
	DHCP bool
	// Netlink defaults to RealNetlink; SysRoot to /sys; Resolve to the system
	// resolver; ResolveTimeout to 10 s.
	Netlink        Netlink
	SysRoot        string
	Resolve        func(ctx context.Context, host string) ([]net.IP, error)
	ResolveTimeout time.Duration
}

// ErrUnsupported is wrapped by the refusals of interfaces the capture cannot bring up.
var ErrUnsupported = errors.New("netconf: interface kind not supported in the capture kernel")

// Resolve returns the address of server (an address or a name, [v6] brackets
// allowed), preferring IPv4 as most dump servers are reached by it.
func Resolve(ctx context.Context, server string, o Options) (net.IP, error) {
	h := strings.TrimSuffix(strings.TrimPrefix(server, "["), "]")
	if ip, err := netip.ParseAddr(h); err == nil {
		return net.IP(ip.AsSlice()), nil
	}
	if o.ResolveTimeout <= 0 {
		o.ResolveTimeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, o.ResolveTimeout)
	defer cancel()
	res := o.Resolve
	if res == nil {
		res = func(ctx context.Context, host string) ([]net.IP, error) {
			return net.DefaultResolver.LookupIP(ctx, "ip", host)
		}
	}
	ips, err := res(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("resolving %s (the capture kernel has no resolver; the address is taken now): %w", server, err)
	}
	sort.SliceStable(ips, func(i, j int) bool { return ips[i].To4() != nil && ips[j].To4() == nil })
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolving %s: no address", server)
	}
	return ips[0], nil
}

// Describe records the way to server for the capture kernel.
func Describe(ctx context.Context, server string, o Options) (*Config, error) {
	if o.Netlink == nil {
		o.Netlink = RealNetlink
	}
	if o.SysRoot == "" {
		o.SysRoot = "/sys"
	}
	ip, err := Resolve(ctx, server, o)
	if err != nil {
		return nil, err
	}
	c := &Config{Server: server, Addr: ip.String(), DHCP: o.DHCP}
	routes, err := o.Netlink.RouteGet(ip)
	if err != nil {
		return nil, fmt.Errorf("route to %s (%s): %w", server, ip, err)
	}
	if len(routes) == 0 || routes[0].LinkIndex <= 0 {
		return nil, fmt.Errorf("no route to %s (%s): the capture kernel could not reach it", server, ip)
	}
	r := routes[0]
	if r.Gw != nil && !r.Gw.IsUnspecified() {
		c.Gateway = r.Gw.String()
	}
	link, err := o.Netlink.LinkByIndex(r.LinkIndex)
	if err != nil {
		return nil, fmt.Errorf("the interface of the route to %s: %w", ip, err)
	}
	a := link.Attrs()
	c.Interface, c.MTU = a.Name, a.MTU
	dev := link
	switch t := link.Type(); t {
	case "device":
		if a.Flags&net.FlagLoopback != 0 {
			return nil, fmt.Errorf("%w: the route to %s (%s) is through %s: the server is this machine, which cannot take its own dump", ErrUnsupported, server, ip, a.Name)
		}
	case "vlan":
		v, ok := link.(*netlink.Vlan)
		if !ok {
			return nil, fmt.Errorf("interface %s: a vlan link without its id", a.Name)
		}
		parent, err := o.Netlink.LinkByIndex(a.ParentIndex)
		if err != nil {
			return nil, fmt.Errorf("the parent of VLAN interface %s: %w", a.Name, err)
		}
		if pt := parent.Type(); pt != "device" {
			return nil, fmt.Errorf("%w: VLAN %s is on %s, a %s interface: only VLANs on physical interfaces are brought up in the capture kernel", ErrUnsupported, a.Name, parent.Attrs().Name, pt)
		}
		c.VLAN = &VLAN{ID: v.VlanId, ParentMAC: parent.Attrs().HardwareAddr.String(), Name: a.Name}
		dev = parent
		c.Modules = append(c.Modules, "8021q")
	case "bond", "bridge", "team":
		return nil, fmt.Errorf("%w: the route to %s (%s) leaves by %s, a %s: bonds and bridges are not set up in the capture kernel; route the dump server through a plain interface or a VLAN on one", ErrUnsupported, server, ip, a.Name, t)
	default:
		return nil, fmt.Errorf("%w: the route to %s (%s) leaves by %s, a %s interface: only physical interfaces and VLANs on them are brought up in the capture kernel", ErrUnsupported, server, ip, a.Name, t)
	}
	if a.MasterIndex != 0 {
		return nil, fmt.Errorf("%w: interface %s is enslaved to another (a bond or bridge port)", ErrUnsupported, a.Name)
	}
	mac := dev.Attrs().HardwareAddr
	if len(mac) == 0 {
		return nil, fmt.Errorf("%w: interface %s has no hardware address to find it by in the capture kernel", ErrUnsupported, dev.Attrs().Name)
	}
	c.MAC = mac.String()
	if c.VLAN != nil {
		c.MAC = c.VLAN.ParentMAC
	}
	mods, err := DriverModules(o.SysRoot, dev.Attrs().Name)
	if err != nil {
		return nil, err
	}
	c.Modules = append(mods, c.Modules...)
	addrs, err := o.Netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", a.Name, err)
	}
	v4, dynamic := false, false
	for _, ad := range addrs {
		if ad.IPNet == nil || ad.IP.IsLinkLocalUnicast() && ad.IP.To4() == nil {
			continue // the kernel makes the IPv6 link-local address itself
		}
		if ad.IP.To4() != nil {
			v4 = true
			if ad.Flags&unix.IFA_F_PERMANENT == 0 {
				dynamic = true
			}
		}
		c.Addrs = append(c.Addrs, ad.IPNet.String())
	}
	if dynamic {
		c.DHCP = true
	}
	if !v4 && ip.To4() != nil && !c.DHCP {
		return nil, fmt.Errorf("interface %s has no IPv4 address to reach %s (%s) from", a.Name, server, ip)
	}
	if len(c.Addrs) == 0 && !c.DHCP {
		return nil, fmt.Errorf("interface %s has no address to reach %s (%s) from", a.Name, server, ip)
	}
	return c, c.Check()
}

// DriverModules are the kernel modules of network interface name's driver and of the
// drivers of the devices above it (a virtio NIC's virtio_net and the PCI transport's
// virtio_pci), from sysfs (class/net/NAME/device, then each parent's driver/module),
// nearest first; built-in drivers have none. An interface without a device (a
// virtual one) is an error.
func DriverModules(sysRoot, name string) ([]string, error) {
	if !validIfName(name) {
		return nil, fmt.Errorf("interface name %q", name)
	}
	dev, err := filepath.EvalSymlinks(filepath.Join(sysRoot, "class/net", name, "device"))
	if err != nil {
		return nil, fmt.Errorf("%w: interface %s has no device in sysfs (a virtual interface)", ErrUnsupported, name)
	}
	if _, err := os.Stat(filepath.Join(dev, "driver")); err != nil {
		return nil, fmt.Errorf("interface %s: its device has no driver bound: %w", name, err)
	}
	devices := filepath.Join(sysRoot, "devices")
	if real, err := filepath.EvalSymlinks(devices); err == nil {
		devices = real
	}
	var mods []string
	seen := map[string]bool{}
	for dir, i := dev, 0; i < maxSysfsDepth && strings.HasPrefix(dir, devices+"/"); dir, i = filepath.Dir(dir), i+1 {
		mod, err := filepath.EvalSymlinks(filepath.Join(dir, "driver/module"))
		if err != nil {
			continue // no driver, or a built-in one
		}
		m := filepath.Base(mod)
		if !validModuleName(m) {
			return nil, fmt.Errorf("the driver module of %s: %q is not a module name", name, m)
		}
		if !seen[m] {
			seen[m] = true
			mods = append(mods, m)
		}
	}
	return mods, nil
}

// BuiltinDrivers are the drivers, by name, of interface name's device and the
// devices above it that have no module here (built into the running kernel): another
// kernel release may have them as modules.
func BuiltinDrivers(sysRoot, name string) []string {
	if !validIfName(name) {
		return nil
	}
	dev, err := filepath.EvalSymlinks(filepath.Join(sysRoot, "class/net", name, "device"))
	if err != nil {
		return nil
	}
	devices := filepath.Join(sysRoot, "devices")
	if real, err := filepath.EvalSymlinks(devices); err == nil {
		devices = real
	}
	var drivers []string
	for dir, i := dev, 0; i < maxSysfsDepth && strings.HasPrefix(dir, devices+"/"); dir, i = filepath.Dir(dir), i+1 {
		drv, err := filepath.EvalSymlinks(filepath.Join(dir, "driver"))
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(drv, "module")); err == nil {
			continue
		}
		if d := filepath.Base(drv); validModuleName(d) {
			drivers = append(drivers, d)
		}
	}
	return drivers
}

// maxSysfsDepth bounds the walk up the device tree.
const maxSysfsDepth = 64

func validIfName(s string) bool {
	return s != "" && len(s) < unix.IFNAMSIZ && s != "." && s != ".." && !strings.ContainsAny(s, "/ \t\n\x00")
}

func validModuleName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Check validates a Config read from the image (or made by Describe).
func (c *Config) Check() error {
	if _, err := netip.ParseAddr(c.Addr); err != nil {
		return fmt.Errorf("netconf: server address %q: %v", c.Addr, err)
	}
	if _, err := net.ParseMAC(c.MAC); err != nil {
		return fmt.Errorf("netconf: MAC %q: %v", c.MAC, err)
	}
	if c.MTU < 0 || c.MTU > 65535 {
		return fmt.Errorf("netconf: MTU %d", c.MTU)
	}
	if len(c.Addrs) > 64 || len(c.Modules) > 16 {
		return errors.New("netconf: too many addresses or modules")
	}
	for _, a := range c.Addrs {
		if _, err := netip.ParsePrefix(a); err != nil {
			return fmt.Errorf("netconf: address %q: %v", a, err)
		}
	}
	if c.Gateway != "" {
		if _, err := netip.ParseAddr(c.Gateway); err != nil {
			return fmt.Errorf("netconf: gateway %q: %v", c.Gateway, err)
		}
	}
	if v := c.VLAN; v != nil {
		if v.ID < 1 || v.ID > 4094 {
			return fmt.Errorf("netconf: VLAN id %d", v.ID)
		}
		if !validIfName(v.Name) {
			return fmt.Errorf("netconf: VLAN name %q", v.Name)
		}
	}
	for _, m := range c.Modules {
		if !validModuleName(m) {
			return fmt.Errorf("netconf: module %q", m)
		}
	}
	if len(c.Addrs) == 0 && !c.DHCP {
		return errors.New("netconf: no address and no DHCP")
	}
	return nil
}

// String says in one line how the capture kernel reaches the server (for status).
func (c *Config) String() string {
	how := strings.Join(c.Addrs, " ")
	if c.DHCP {
		how = "DHCP"
		if len(c.Addrs) > 0 {
			how += " (was " + strings.Join(c.Addrs, " ") + ")"
		}
	}
	s := fmt.Sprintf("%s at %s via %s (%s) %s", c.Server, c.Addr, c.Interface, c.MAC, how)
	if c.VLAN != nil {
		s += fmt.Sprintf(" vlan %d", c.VLAN.ID)
	}
	if c.Gateway != "" {
		s += " gateway " + c.Gateway
	}
	return s
}
