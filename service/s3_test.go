package service

import (
	"strings"
	"testing"

	"github.com/gokdump/gokdump/config"
)

// TestCheckDirectivesS3: the upload directives arm (they act in the first kernel);
// s3_capture yes is refused on its line, since the capture does not upload.
func TestCheckDirectivesS3(t *testing.T) {
	base := "s3_endpoint https://s3.example.net\ns3_bucket crashes\ns3_credentials /etc/gokdump/s3.cred\n"
	for _, tc := range []struct{ text, want string }{
		{base + "s3_capture no\n", ""},
		{base + "s3_capture yes\n", "kdump.conf:4: s3_capture yes: uploading from the capture kernel is not supported"},
	} {
		c, err := config.Parse(strings.NewReader(tc.text), "kdump.conf")
		if err != nil {
			t.Fatal(err)
		}
		err = CheckDirectives(c)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
}
