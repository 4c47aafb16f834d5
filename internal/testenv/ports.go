package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePorts returns n ports on 127.0.0.1 that were free a moment ago, for a server a
// test starts as another process (sshd, ganesha, weed) that must be told its port;
// when plus is not 0, port+plus was free too (weed's gRPC port is its port+10000).
// The ports are taken below the kernel's ephemeral range (ip_local_port_range), so
// that no outgoing connection is given one as its source port before the server
// binds it: a port picked by binding port 0 comes from that range and lost such races
// in CI.
func FreePorts(n, plus int) ([]int, error) {
	lo := 10000
	hi := ephemeralStart() - plus // port+plus below the ephemeral range
	if hi-lo < 100*n {
		return nil, fmt.Errorf("testenv: ephemeral ports start at %d, leaving too few below for %d ports (+%d)", hi+plus, n, plus)
	}
	var out []int
	var hold []net.Listener
	defer func() {
		for _, l := range hold {
			l.Close()
		}
	}()
	bind := func(port int) net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return nil
		}
		hold = append(hold, l)
		return l
	}
	for tries := 0; len(out) < n && tries < 500; tries++ {
		port := lo + rand.IntN(hi-lo)
		l := bind(port)
		if l == nil {
			continue
		}
		if plus != 0 && bind(port+plus) == nil {
			continue // l stays held, so this port is not picked again
		}
		out = append(out, port)
	}
	if len(out) < n {
		return nil, fmt.Errorf("testenv: no %d free ports (+%d) on 127.0.0.1 in %d..%d", n, plus, lo, hi)
	}
	return out, nil
}

// ephemeralStart is the first port of the kernel's ephemeral range (32768 when it
// cannot be read).
func ephemeralStart() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				return v
			}
		}
	}
	return 32768
}
