package netconf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// UpOptions are Up's inputs besides the configuration.
type UpOptions struct {
	Netlink Netlink // default RealNetlink
	// Timeout bounds the whole bring-up (default 60 s); Carrier the wait for the
	// link's carrier within it (default 30 s).
	Timeout, Carrier time.Duration
	// DHCP gets an IPv4 lease on the named interface (default: nclient4).
	DHCP func(ctx context.Context, ifname string) (*Lease, error)
	Logf func(format string, args ...any)
	// Sleep waits between retries (default: a timer, ended by ctx).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Lease is what a DHCPv4 server gave.
type Lease struct {
	Addr    netip.Prefix
	Gateway netip.Addr // invalid when none
}

// Up brings the way to the server up in the capture kernel: the interface found by
// MAC, its MTU, link up, carrier, addresses (or DHCP) and the route to the server.
// It returns the name of the interface the dump leaves by.
func Up(ctx context.Context, c *Config, o UpOptions) (string, error) {
	if err := c.Check(); err != nil {
		return "", err
	}
	if o.Netlink == nil {
		o.Netlink = RealNetlink
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Carrier <= 0 {
		o.Carrier = 30 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.DHCP == nil {
		o.DHCP = dhcp4
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	nl := o.Netlink

	// Loopback first: local RPC (the NFS client's) uses it.
	if links, err := nl.LinkList(); err == nil {
		for _, l := range links {
			if l.Attrs().Flags&net.FlagLoopback != 0 {
				if err := nl.LinkSetUp(l); err != nil {
					o.Logf("warning: bringing up %s: %v", l.Attrs().Name, err)
				}
			}
		}
	}

	// The interface appears when its driver has probed: retry, backing off.
	var dev netlink.Link
	err := retry(ctx, o.Sleep, func() error {
		l, err := linkByMAC(nl, c.MAC)
		dev = l
		return err
	})
	if err != nil {
		return "", fmt.Errorf("finding the interface with MAC %s (%s in the first kernel): %w", c.MAC, c.Interface, err)
	}
	o.Logf("network: %s is %s here", c.MAC, dev.Attrs().Name)
	if c.MTU > 0 && c.VLAN == nil && dev.Attrs().MTU != c.MTU {
		if err := nl.LinkSetMTU(dev, c.MTU); err != nil {
			return "", fmt.Errorf("setting the MTU of %s to %d: %w", dev.Attrs().Name, c.MTU, err)
		}
	}
	if err := nl.LinkSetUp(dev); err != nil {
		return "", fmt.Errorf("bringing up %s: %w", dev.Attrs().Name, err)
	}
	cctx, ccancel := context.WithTimeout(ctx, o.Carrier)
	err = retry(cctx, o.Sleep, func() error {
		l, err := linkByMAC(nl, c.MAC)
		if err != nil {
			return err
		}
		dev = l
		if !hasCarrier(l) {
			return fmt.Errorf("%s has no carrier (state %s)", l.Attrs().Name, l.Attrs().OperState)
		}
		return nil
	})
	ccancel()
	if err != nil {
		return "", fmt.Errorf("waiting for the link: %w", err)
	}
	link := dev
	if v := c.VLAN; v != nil {
		vl := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: v.Name, ParentIndex: dev.Attrs().Index, MTU: c.MTU}, VlanId: v.ID}
		if err := nl.LinkAdd(vl); err != nil && !errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("adding VLAN %d on %s: %w", v.ID, dev.Attrs().Name, err)
		}
		if err := nl.LinkSetUp(vl); err != nil {
			return "", fmt.Errorf("bringing up VLAN %s: %w", v.Name, err)
		}
		link = vl
	}
	name := link.Attrs().Name
	gw := c.Gateway
	for _, a := range c.Addrs {
		p := netip.MustParsePrefix(a)
		if c.DHCP && p.Addr().Is4() {
			continue
		}
		ad := &netlink.Addr{IPNet: prefixNet(p)}
		if p.Addr().Is6() {
			ad.Flags = unix.IFA_F_NODAD // no duplicate detection wait: it was ours a moment ago
		}
		if err := nl.AddrAdd(link, ad); err != nil && !errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("adding %s to %s: %w", a, name, err)
		}
	}
	if c.DHCP {
		var lease *Lease
		err := retry(ctx, o.Sleep, func() error {
			l, err := o.DHCP(ctx, name)
			lease = l
			return err
		})
		if err != nil {
			return "", fmt.Errorf("DHCP on %s: %w", name, err)
		}
		o.Logf("network: DHCP gave %s on %s", lease.Addr, name)
		if err := nl.AddrAdd(link, &netlink.Addr{IPNet: prefixNet(lease.Addr)}); err != nil && !errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("adding %s to %s: %w", lease.Addr, name, err)
		}
		server := netip.MustParseAddr(c.Addr)
		if server.Is4() && !lease.Addr.Contains(server) {
			if !lease.Gateway.IsValid() {
				return "", fmt.Errorf("DHCP on %s gave %s and no router, and the server %s is not on that network", name, lease.Addr, c.Addr)
			}
			gw = lease.Gateway.String()
		}
	}
	if gw != "" {
		dst := netip.MustParseAddr(c.Addr)
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(netip.PrefixFrom(dst, dst.BitLen())), Gw: net.ParseIP(gw)}
		if err := nl.RouteReplace(r); err != nil {
			return "", fmt.Errorf("route to %s via %s: %w", c.Addr, gw, err)
		}
	}
	o.Logf("network: %s up: %s", name, c)
	return name, nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func hasCarrier(l netlink.Link) bool {
	a := l.Attrs()
	return a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown && a.RawFlags&unix.IFF_LOWER_UP != 0
}

func linkByMAC(nl Netlink, mac string) (netlink.Link, error) {
	links, err := nl.LinkList()
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if l.Type() == "device" && strings.EqualFold(l.Attrs().HardwareAddr.String(), mac) {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no interface has MAC %s (is its driver in the image?)", mac)
}

// retry calls f until it succeeds or ctx ends, waiting 100 ms, then twice as long
// each time up to 2 s; the error is f's last one.
func retry(ctx context.Context, sleep func(context.Context, time.Duration) error, f func() error) error {
	d := 100 * time.Millisecond
	for i := 0; ; i++ {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || i >= 1000 {
			return err
		}
		if serr := sleep(ctx, d); serr != nil {
			return fmt.Errorf("%w (gave up: %v)", err, serr)
		}
		d = min(2*d, 2*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
