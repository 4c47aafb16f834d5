package config

import (
	"bytes"
	"strings"
	"testing"
)

func TestS3Directives(t *testing.T) {
	text := "path /var/crash\ns3_endpoint https://s3.example.net:9000\ns3_bucket crashes\ns3_prefix /fleet/prod/\n" +
		"s3_credentials /etc/gokdump/s3.cred\ns3_ca_file /etc/gokdump/ca.pem\ns3_full_dumps 5\ns3_delete_uploaded yes\n"
	c, err := Parse(strings.NewReader(text), "kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := S3{Endpoint: "https://s3.example.net:9000", Bucket: "crashes", Prefix: "fleet/prod", Credentials: "/etc/gokdump/s3.cred",
		CAFile: "/etc/gokdump/ca.pem", FullDumps: 5, DeleteUploaded: true}
	if c.S3 != want {
		t.Errorf("got %+v\nwant %+v", c.S3, want)
	}
	var buf bytes.Buffer
	c.Format(&buf)
	c2, err := Parse(&buf, "formatted")
	if err != nil || c2.S3 != c.S3 {
		t.Errorf("round trip: %v %+v", err, c2)
	}
	if d, _ := Parse(strings.NewReader(""), "empty"); d.S3.FullDumps != DefaultS3FullDumps || d.S3.Enabled() {
		t.Errorf("defaults %+v", d.S3)
	}
	if _, err := Parse(strings.NewReader("s3_endpoint http://127.0.0.1:8333\ns3_bucket b12\ns3_credentials /c\n"), "k"); err != nil {
		t.Errorf("plain http to loopback refused: %v", err)
	}
}

func TestS3DirectiveErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"s3_bucket crashes\n", "k:1: s3_bucket: uploads need s3_endpoint"},
		{"s3_endpoint s3.example.net\ns3_credentials /c\n", "k:1: s3_endpoint: s3_bucket is missing"},
		{"s3_endpoint s3.example.net\ns3_bucket abc\n", "k:1: s3_endpoint: s3_credentials is missing"},
		{"s3_endpoint http://s3.example.net\ns3_bucket abc\ns3_credentials /c\n", "k:1: s3_endpoint: plain http to s3.example.net"},
		{"s3_endpoint ftp://x\n", "k:1: s3_endpoint: want https://host"},
		{"s3_endpoint https://x/path\n", "k:1: s3_endpoint: want https://host"},
		{"s3_endpoint x:99999\n", "k:1: s3_endpoint: bad port"},
		{"s3_endpoint x\ns3_bucket UPPER\n", "k:2: s3_bucket: want a bucket name"},
		{"s3_endpoint x\ns3_bucket abc\ns3_credentials rel/path\n", "k:3: s3_credentials: want an absolute path"},
		{"s3_endpoint x\ns3_bucket abc\ns3_credentials /c\ns3_full_dumps -1\n", "k:4: s3_full_dumps: want how many"},
		{"s3_endpoint x\ns3_bucket abc\ns3_credentials /c\ns3_prefix a/../b\n", "k:4: s3_prefix: want a key prefix"},
		{"s3_endpoint x\ns3_bucket abc\ns3_credentials /c\ns3_capture maybe\n", "k:4: s3_capture: want yes or no"},
		{"ssh kdump@10.0.0.1\ns3_endpoint x\ns3_bucket abc\ns3_credentials /c\n", "k:2: s3_endpoint: gokdump upload sends the dumps saved on this machine, but ssh (line 1)"},
		{"nfs 10.0.0.1:/e\ns3_endpoint x\ns3_bucket abc\ns3_credentials /c\n", "but nfs (line 1) saves them on a server"},
	} {
		_, err := Parse(strings.NewReader(tc.text), "k")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
	if _, err := Parse(strings.NewReader("s3_endpoint http://s3.example.net\ns3_allow_http yes\ns3_bucket abc\ns3_credentials /c\n"), "k"); err != nil {
		t.Errorf("s3_allow_http yes: %v", err)
	}
}

// TestParseS3Endpoint: the parts a client and the capture's network plan use, the
// port defaulting to the scheme's.
func TestParseS3Endpoint(t *testing.T) {
	for _, c := range []struct {
		in             string
		hostPort, host string
		port           int
		plain          bool
	}{
		{"s3.example.net", "s3.example.net", "s3.example.net", 443, false},
		{"https://s3.example.net", "s3.example.net", "s3.example.net", 443, false},
		{"http://127.0.0.1", "127.0.0.1", "127.0.0.1", 80, true},
		{"http://127.0.0.1:8333", "127.0.0.1:8333", "127.0.0.1", 8333, true},
		{"https://[2001:db8::1]:9000/", "[2001:db8::1]:9000", "2001:db8::1", 9000, false},
		{"[::1]", "[::1]", "[::1]", 443, false},
	} {
		e, err := ParseS3Endpoint(c.in)
		if err != nil || e.HostPort != c.hostPort || e.Host != c.host || e.Port != c.port || e.Plain != c.plain {
			t.Errorf("ParseS3Endpoint(%q) = %+v, %v; want %s %s %d plain=%v", c.in, e, err, c.hostPort, c.host, c.port, c.plain)
		}
	}
}
