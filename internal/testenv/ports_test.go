package testenv

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(4, 10000)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < 10000 || p+10000 >= ephemeralStart() || seen[p] || seen[p+10000] {
			t.Fatalf("ports %v: %d is below 10000, reaches the ephemeral range with +10000, or is repeated", ports, p)
		}
		seen[p], seen[p+10000] = true, true
		for _, q := range []int{p, p + 10000} {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q))
			if err != nil {
				t.Fatalf("port %d of %v is not free: %v", q, ports, err)
			}
			l.Close()
		}
	}
}
