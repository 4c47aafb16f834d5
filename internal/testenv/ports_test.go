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
		if p < 10000 || p+10000 >= 32768 || seen[p] || seen[p+10000] {
			t.Fatalf("ports %v: %d is outside 10000..22767 or repeated", ports, p)
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
