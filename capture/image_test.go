package capture

import (
	"io"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/netconf"
	"github.com/gokdump/gokdump/service"
	"github.com/gokdump/gokdump/target"
)

// TestWireRemote: an ssh or nfs target is reached at the address start recorded, after
// the recorded network comes up; an image made for another target is refused.
func TestWireRemote(t *testing.T) {
	nc := &netconf.Config{Server: "dumps.example", Addr: "10.0.2.100", MAC: "52:54:00:12:34:56", Addrs: []string{"10.0.2.15/24"}}
	parse := func(s string) *config.Config {
		c, err := config.Parse(strings.NewReader(s), "kdump.conf")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	wire := func(conf string, r *service.RemoteTarget) *Flow {
		f := &Flow{Config: parse(conf), Console: io.Discard}
		f.Wire(&service.CaptureInfo{Remote: r})
		return f
	}
	// ssh: the recorded address and keys, no mount target.
	f := wire("ssh kdump@dumps.example:2222\n", &service.RemoteTarget{Network: nc, SSH: &service.SSHTarget{User: "kdump", Port: 2222, Key: "/etc/gokdump/ssh/id",
		HostKeys: []service.HostKey{{Key: "ssh-ed25519 AAAA"}}}})
	st, ok := f.Remote.(SSHTarget)
	if !ok || f.Target != nil || f.TargetErr != nil || f.Network == nil || st.Addr != "10.0.2.100" || st.Port != 2222 || st.HostKeys[0] != "ssh-ed25519 AAAA" {
		t.Fatalf("ssh: %#v %v", f.Remote, f.TargetErr)
	}
	// nfs: a mount target at the recorded address.
	f = wire("nfs dumps.example:/export\n", &service.RemoteTarget{Network: nc, NFS: &service.NFSTarget{Export: "/export", FSType: "nfs4"}})
	n, ok := f.Target.(*target.NFS)
	if !ok || f.Remote != nil || n.Server != "10.0.2.100" || n.Export != "/export" || f.Network == nil {
		t.Fatalf("nfs: %#v", f.Target)
	}
	// An image made for another target: refused, so failure_action runs.
	f = wire("nfs dumps.example:/export\n", &service.RemoteTarget{Network: nc, SSH: &service.SSHTarget{}})
	if f.TargetErr == nil || f.Target != nil {
		t.Fatal("a mismatched image was used")
	}
}
