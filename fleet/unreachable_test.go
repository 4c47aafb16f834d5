package fleet

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"
)

// TestUnreachable: what leaves a dump pending (the store is away) and what is the
// store refusing, however the error is wrapped.
func TestUnreachable(t *testing.T) {
	wrapped := func(err error) error { return fmt.Errorf("s3://b/p: crashes/x/vmcore: %w", err) }
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"503 SlowDown", minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}, true},
		{"503 wrapped", wrapped(minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}), true},
		{"502 wrapped twice", wrapped(wrapped(minio.ErrorResponse{Code: "BadGateway", StatusCode: 502})), true},
		{"403 wrapped", wrapped(minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}), false},
		{"connection refused", wrapped(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{"dial failure", wrapped(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("no route")}), true},
		{"TLS alert on a made connection", wrapped(&net.OpError{Op: "remote error", Err: tls.AlertError(42)}), false},
		{"DNS", wrapped(&net.DNSError{Err: "no such host", Name: "s3.example.net"}), true},
		{"other", errors.New("checksum mismatch"), false},
	} {
		if got := Unreachable(c.err); got != c.want {
			t.Errorf("%s: Unreachable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
	if errorResponse(wrapped(minio.ErrorResponse{Code: "NoSuchUpload", StatusCode: 404})).Code != "NoSuchUpload" {
		t.Error("errorResponse does not see through wrapping")
	}
}
