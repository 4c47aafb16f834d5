// Package netconf is the network of a dump sent to a server (kdump.conf's ssh and nfs
// targets): what the first kernel knows about the way to the server, recorded at
// `gokdump start` (Describe), and bringing that way up again in the capture kernel
// (Up), where there is no udev, no resolver, no DHCP daemon and no ip(8).
//
// At start, Describe resolves the server's name (the capture kernel has no resolver:
// the address is recorded and `status` shows it), asks the kernel for the route to
// that address (RTM_GETROUTE, as `ip route get` does), and records the interface the
// route leaves by: its MAC address (interface names may differ in the capture kernel,
// where no udev renames them), the driver's kernel module (sysfs
// device/driver/module), its MTU, its addresses with their prefixes and the gateway,
// for IPv4 and IPv6. An address with a finite lifetime (not IFA_F_PERMANENT) came
// from DHCP or autoconfiguration: the capture kernel then asks DHCP again (IPv4; an
// IPv6 address is set as recorded, which is what SLAAC gives the same MAC again).
// kdump.conf's `kdump_dhcp yes` asks for DHCP whatever the first kernel did. A VLAN
// interface is recorded with its parent's MAC and its VLAN id (module 8021q); bonds,
// bridges and other virtual interfaces are refused, with the reason, so `start` never
// arms a capture that cannot reach its server.
//
// In the capture kernel, Up finds the interface by MAC, sets its MTU, brings it up,
// waits for carrier with bounded, backed-off retries, adds the addresses and routes
// (or runs a DHCPv4 exchange) and returns; every step is bounded by its context.
//
// Netlink is spoken through github.com/vishvananda/netlink: pure Go, kept up to date
// (it is what Docker, Kubernetes' CNI plugins and cilium use), and its typed Link,
// Addr and Route values are easy to fake in tests (the Netlink interface here). DHCP
// is github.com/insomniacslk/dhcp's nclient4 (pure Go, a raw socket on one
// interface: no DHCP daemon in the image).
package netconf
