package netconf

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// dhcp4 is one DHCPv4 exchange (discover, offer, request, ack) on ifname.
func dhcp4(ctx context.Context, ifname string) (*Lease, error) {
	// The transaction id comes from u-root's rand, which waits for getrandom(2)'s
	// crng to be ready: a capture kernel early in its boot, on a CPU without a
	// hardware generator (QEMU's qemu64), may never be, and no DHCP request would
	// go out. UROOT_NOHWRNG makes it read /dev/urandom, which is good enough for a
	// DHCP transaction id. It is read once, at the first use; nothing else here
	// uses that package.
	os.Setenv("UROOT_NOHWRNG", "1")
	cl, err := nclient4.New(ifname, nclient4.WithTimeout(5*time.Second), nclient4.WithRetry(3))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	l, err := cl.Request(ctx)
	if err != nil {
		return nil, err
	}
	ack := l.ACK
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || !ip.IsGlobalUnicast() {
		return nil, fmt.Errorf("DHCP offered %v", ack.YourIPAddr)
	}
	bits := 24
	if m := ack.SubnetMask(); m != nil {
		if ones, b := m.Size(); b == 32 {
			bits = ones
		}
	}
	lease := &Lease{Addr: netip.PrefixFrom(ip, bits)}
	if rs := ack.Router(); len(rs) > 0 {
		if g, ok := netip.AddrFromSlice(rs[0].To4()); ok {
			lease.Gateway = g
		}
	}
	return lease, nil
}
