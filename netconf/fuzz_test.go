package netconf

import (
	"encoding/json"
	"testing"

	"net/netip"
)

// FuzzConfig: a Config read from the image is checked before Up uses it; whatever
// Check accepts must not make Up's parsing panic (it uses MustParse on checked values).
func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"server":"dumps","addr":"10.0.2.100","interface":"eth0","mac":"52:54:00:12:34:56","mtu":1500,"addrs":["10.0.2.15/24"],"gateway":"10.0.2.2","modules":["virtio_net"]}`))
	f.Add([]byte(`{"addr":"2001:db8::1","mac":"52:54:00:12:34:56","dhcp":true,"vlan":{"id":42,"parent_mac":"52:54:00:12:34:56","name":"eth0.42"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		if json.Unmarshal(data, &c) != nil || c.Check() != nil {
			return
		}
		_ = c.String()
		for _, a := range c.Addrs {
			_ = prefixNet(netip.MustParsePrefix(a))
		}
	})
}
