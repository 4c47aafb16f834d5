package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/internal/smallfile"
	"github.com/gokdump/gokdump/kmod"
	"github.com/gokdump/gokdump/netconf"
)

// uploadCredentialsWarning says, for config check and start, what gokdump upload
// will refuse about the s3_credentials file (missing, not a regular file, readable by
// others, not root's, not credentials): the same check, fleet.LoadCredentials. It
// does not stop arming: the capture does not need the file.
func uploadCredentialsWarning(cfg *config.Config) string {
	name := cfg.S3.Credentials
	if !cfg.S3.Enabled() || name == "" {
		return ""
	}
	if _, err := fleet.LoadCredentials(name); err != nil {
		return fmt.Sprintf("%s:%d: s3_credentials: %v: gokdump upload cannot send dumps until this is mended", cfg.File, cfg.Lines["s3_credentials"], err)
	}
	return ""
}

// S3CredentialsPath and S3CAPath are where s3_capture yes puts the credentials file
// and the CA file in the capture initramfs.
const (
	S3CredentialsPath = "etc/gokdump/s3.cred"
	S3CAPath          = "etc/gokdump/s3-ca.pem"
)

// S3Target is the bucket the capture kernel writes to (s3_capture yes), as recorded
// at start; the address of its endpoint is in RemoteTarget.Network.
type S3Target struct {
	Endpoint  string `json:"endpoint"` // as kdump.conf gives it
	AllowHTTP bool   `json:"allow_http,omitempty"`
	Port      int    `json:"port"` // the endpoint's port (443 or 80 when it names none)
	Bucket    string `json:"bucket"`
	Prefix    string `json:"prefix,omitempty"`
	Region    string `json:"region,omitempty"`
	// Credentials and CAFile are the files' paths in the image ("/etc/...").
	Credentials string `json:"credentials"`
	CAFile      string `json:"ca_file,omitempty"`
	// MachineID is this machine's /etc/machine-id, for the crash's id.
	MachineID string `json:"machine_id,omitempty"`
	// FullDumps is s3_full_dumps: how many crashes of one signature send their dump.
	FullDumps int `json:"full_dumps"`
}

// s3Target records what s3_capture yes needs: the way to the endpoint (its address
// resolved now), the credentials (checked as gokdump upload checks them) and the CA
// file, copied into the image.
func (s *System) s3Target(cfg *config.Config, release string) (*RemoteTarget, []string, []PlanFile, error) {
	c := cfg.S3
	line := fmt.Sprintf("%s:%d: s3_capture yes", cfg.File, cfg.Lines["s3_capture"])
	// fleet's check first: it applies the rule on plain http.
	if _, _, err := fleet.ParseEndpoint(c.Endpoint, c.AllowHTTP); err != nil {
		return nil, nil, nil, fmt.Errorf("%s:%d: s3_endpoint: %w", cfg.File, cfg.Lines["s3_endpoint"], err)
	}
	ep, err := config.ParseS3Endpoint(c.Endpoint)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s:%d: s3_endpoint: %w", cfg.File, cfg.Lines["s3_endpoint"], err)
	}
	host, port := ep.Host, ep.Port
	if _, err := fleet.LoadCredentials(c.Credentials); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: the capture reads s3_credentials: %w", line, err)
	}
	o := s.Net
	o.DHCP = o.DHCP || cfg.DHCP
	if o.SysRoot == "" {
		o.SysRoot = s.SysRoot
	}
	nc, err := netconf.Describe(context.Background(), strings.Trim(host, "[]"), o)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: the way to %s: %w", line, host, err)
	}
	t := &S3Target{Endpoint: c.Endpoint, AllowHTTP: c.AllowHTTP, Port: port, Bucket: c.Bucket, Prefix: c.Prefix, Region: c.Region,
		Credentials: "/" + S3CredentialsPath, FullDumps: c.FullDumps}
	files := []PlanFile{{Dest: S3CredentialsPath, Src: c.Credentials, Mode: 0o600}}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			return nil, nil, nil, fmt.Errorf("%s:%d: s3_ca_file: %w", cfg.File, cfg.Lines["s3_ca_file"], err)
		}
		t.CAFile = "/" + S3CAPath
		files = append(files, PlanFile{Dest: S3CAPath, Src: c.CAFile, Mode: 0o644})
	}
	t.MachineID = s.machineID()
	mods := append([]string(nil), nc.Modules...)
	if running, err := s.Release(); err == nil && running != release {
		for _, d := range netconf.BuiltinDrivers(o.SysRoot, nc.Interface) {
			if _, err := kmod.Resolve(s.ModuleDir(release), kmod.Normalize(d)); err == nil {
				mods = append(mods, kmod.Normalize(d))
			}
		}
	}
	return &RemoteTarget{Network: nc, S3: t}, mods, files, nil
}

// machineID is this machine's /etc/machine-id, "" when it has none.
func (s *System) machineID() string {
	b, err := smallfile.Read(filepath.Join(s.etcRoot(), "machine-id"), 4096)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// etcRoot is /etc, or etc beside ProcRoot for a test's fake machine.
func (s *System) etcRoot() string {
	if s.ProcRoot != "" && s.ProcRoot != "/proc" {
		return filepath.Join(filepath.Dir(s.ProcRoot), "etc")
	}
	return "/etc"
}
