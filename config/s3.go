package config

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// S3 is gokdump's extension for uploading saved dumps to an S3-compatible bucket
// (gokdump upload, package upload): the s3_* directives.
type S3 struct {
	// Endpoint (s3_endpoint) is "host[:port]" (HTTPS) or "https://host[:port]" or
	// "http://host[:port]"; "" : no uploads.
	Endpoint string
	// AllowHTTP (s3_allow_http yes) allows plain HTTP to an endpoint that is not a
	// loopback address.
	AllowHTTP bool
	Bucket    string // s3_bucket
	Prefix    string // s3_prefix: the key prefix of the fleet's objects ("" : none)
	Region    string // s3_region ("" : us-east-1)
	// Credentials (s3_credentials) is the file holding the access key pair
	// (fleet.Credentials: access_key= and secret_key= lines, mode 0600, owned by root).
	Credentials string
	// CAFile (s3_ca_file) is a PEM file of CAs to trust instead of the system's.
	CAFile string
	// FullDumps (s3_full_dumps K) is how many crashes of one signature have their
	// dump uploaded; later ones send their record and kernel log only ("sampled").
	// 0 uploads every dump.
	FullDumps int
	// DeleteUploaded (s3_delete_uploaded yes) deletes a local dump once it is
	// uploaded whole.
	DeleteUploaded bool
	// Capture (s3_capture yes) uploads from the capture kernel itself.
	Capture bool
}

// DefaultS3FullDumps is s3_full_dumps' default.
const DefaultS3FullDumps = 3

// Enabled reports whether uploads are configured.
func (s S3) Enabled() bool { return s.Endpoint != "" }

// s3Directives are the s3_* directives, in the order Format writes them.
var s3Directives = []string{"s3_endpoint", "s3_allow_http", "s3_bucket", "s3_prefix", "s3_region",
	"s3_credentials", "s3_ca_file", "s3_full_dumps", "s3_delete_uploaded", "s3_capture"}

func init() {
	yesNo := func(field func(*S3) *bool) directive {
		return directive{set: func(c *Config, _ *parser, v string, _ int) error {
			switch v {
			case "yes":
				*field(&c.S3) = true
			case "no":
				*field(&c.S3) = false
			default:
				return fmt.Errorf("want yes or no, not %q", v)
			}
			return nil
		}}
	}
	directives["s3_endpoint"] = directive{set: func(c *Config, _ *parser, v string, _ int) error {
		if err := checkEndpoint(v); err != nil {
			return err
		}
		c.S3.Endpoint = v
		return nil
	}}
	directives["s3_allow_http"] = yesNo(func(s *S3) *bool { return &s.AllowHTTP })
	directives["s3_bucket"] = directive{set: func(c *Config, _ *parser, v string, _ int) error {
		if !validBucket(v) {
			return fmt.Errorf("want a bucket name (3 to 63 of a-z, 0-9, '.', '-'), not %q", v)
		}
		c.S3.Bucket = v
		return nil
	}}
	directives["s3_prefix"] = directive{set: func(c *Config, _ *parser, v string, _ int) error {
		p := strings.Trim(v, "/")
		if p == "" || strings.ContainsAny(p, " \t\\") || path.Clean(p) != p || strings.HasPrefix(p, "..") || len(p) > 256 {
			return fmt.Errorf("want a key prefix such as fleet/prod (no spaces, no .. or empty elements), not %q", v)
		}
		c.S3.Prefix = p
		return nil
	}}
	directives["s3_region"] = directive{set: func(c *Config, _ *parser, v string, _ int) error {
		if !isName(v) {
			return fmt.Errorf("want a region name, not %q", v)
		}
		c.S3.Region = v
		return nil
	}}
	directives["s3_credentials"] = directive{set: func(c *Config, _ *parser, v string, _ int) error {
		if err := absPath(v); err != nil {
			return err
		}
		c.S3.Credentials = path.Clean(v)
		return nil
	}}
	directives["s3_ca_file"] = directive{set: func(c *Config, _ *parser, v string, _ int) error {
		if err := absPath(v); err != nil {
			return err
		}
		c.S3.CAFile = path.Clean(v)
		return nil
	}}
	directives["s3_full_dumps"] = directive{set: func(c *Config, _ *parser, v string, _ int) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1000000 {
			return fmt.Errorf("want how many dumps of one crash signature to upload (0: all), not %q", v)
		}
		c.S3.FullDumps = n
		return nil
	}}
	directives["s3_delete_uploaded"] = yesNo(func(s *S3) *bool { return &s.DeleteUploaded })
	directives["s3_capture"] = yesNo(func(s *S3) *bool { return &s.Capture })
}

// checkEndpoint checks an s3_endpoint value's form (the scheme rule needs
// s3_allow_http, so checkS3 applies it).
func checkEndpoint(v string) error {
	_, err := ParseS3Endpoint(v)
	return err
}

// S3Endpoint is an s3_endpoint value taken apart (ParseS3Endpoint): HostPort as a
// client dials it, Host without the port, the Port (the scheme's, 443 or 80, when it
// names none), and whether it is plain http.
type S3Endpoint struct {
	HostPort, Host string
	Port           int
	Plain          bool
}

// ParseS3Endpoint parses an s3_endpoint value: https://host[:port], http://host[:port]
// or host[:port] (https). The rule on plain http is the caller's (IsLoopbackHost).
func ParseS3Endpoint(v string) (S3Endpoint, error) {
	var e S3Endpoint
	e.HostPort = v
	if strings.Contains(v, "://") {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
			return e, fmt.Errorf("want https://host[:port], http://host[:port] or host[:port], not %q (the bucket and prefix are separate directives)", v)
		}
		e.HostPort, e.Plain = u.Host, u.Scheme == "http"
	}
	e.Host, e.Port = e.HostPort, 443
	if e.Plain {
		e.Port = 80
	}
	if sh, port, err := net.SplitHostPort(e.HostPort); err == nil {
		n, perr := strconv.Atoi(port)
		if perr != nil || n < 1 || n > 65535 {
			return e, fmt.Errorf("bad port in %q", v)
		}
		e.Host, e.Port = sh, n
	}
	if e.Host == "" || !(isName(e.Host) || net.ParseIP(strings.Trim(e.Host, "[]")) != nil) {
		return e, fmt.Errorf("want https://host[:port], http://host[:port] or host[:port], not %q", v)
	}
	return e, nil
}

// IsLoopbackHost reports whether host (a name or an address, IPv6 with or without
// brackets) is this machine's loopback: plain http is allowed there without
// s3_allow_http.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func validBucket(v string) bool {
	if len(v) < 3 || len(v) > 63 {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return false
		}
	}
	return v[0] != '.' && v[0] != '-'
}

// checkS3 applies the rules between the s3_* directives.
func (c *Config) checkS3(p *parser) {
	s := c.S3
	if !s.Enabled() {
		for _, k := range s3Directives[1:] {
			if l := c.Lines[k]; l != 0 {
				p.errorf(l, "%s: uploads need s3_endpoint (and s3_bucket, s3_credentials)", k)
			}
		}
		return
	}
	line := c.Lines["s3_endpoint"]
	if s.Bucket == "" {
		p.errorf(line, "s3_endpoint: s3_bucket is missing")
	}
	if s.Credentials == "" {
		p.errorf(line, "s3_endpoint: s3_credentials is missing (a file of access_key= and secret_key= lines, mode 0600)")
	}
	if s.Capture && c.Target.Kind != TargetRootfs {
		k, l := c.targetLine()
		p.errorf(c.Lines["s3_capture"], "s3_capture yes: the capture writes the dump to the bucket, not to a target: remove %s (line %d)", k, l)
	}
	if !s.Capture && (c.Target.Kind == TargetSSH || c.Target.Kind == TargetNFS) {
		// gokdump upload sends the dumps saved on this machine; these are on the server.
		k, l := c.targetLine()
		p.errorf(line, "s3_endpoint: gokdump upload sends the dumps saved on this machine, but %s (line %d) saves them on a server: run gokdump upload --dir there, or use s3_capture yes instead of %s", k, l, k)
	}
	e, _ := ParseS3Endpoint(s.Endpoint)
	h := e.Host
	if e.Plain && !s.AllowHTTP && !IsLoopbackHost(h) {
		p.errorf(line, "s3_endpoint: plain http to %s sends dumps and credentials' signatures unencrypted; use https, or add s3_allow_http yes", h)
	}
}

// formatS3 writes the s3_* directives that differ from the defaults.
func (c *Config) formatS3(put func(k, v string)) {
	s := c.S3
	if !s.Enabled() {
		return
	}
	yn := map[bool]string{true: "yes", false: "no"}
	put("s3_endpoint", s.Endpoint)
	if s.AllowHTTP {
		put("s3_allow_http", "yes")
	}
	put("s3_bucket", s.Bucket)
	if s.Prefix != "" {
		put("s3_prefix", s.Prefix)
	}
	if s.Region != "" {
		put("s3_region", s.Region)
	}
	put("s3_credentials", s.Credentials)
	if s.CAFile != "" {
		put("s3_ca_file", s.CAFile)
	}
	put("s3_full_dumps", strconv.Itoa(s.FullDumps))
	put("s3_delete_uploaded", yn[s.DeleteUploaded])
	put("s3_capture", yn[s.Capture])
}
