package config

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary files to Parse: it must return a configuration or an
// error naming the file, never panic, and what it accepts must print (Format) to a
// file that parses back to the same configuration.
func FuzzParse(f *testing.F) {
	f.Add([]byte("path /var/crash\ncore_collector makedumpfile -l --message-level 7 -d 31\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(bytes.NewReader(data), "fuzz.conf")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.conf") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := c.Format(&buf); err != nil {
			t.Fatal(err)
		}
		c2, err := Parse(bytes.NewReader(buf.Bytes()), "formatted.conf")
		if err != nil {
			t.Fatalf("formatted configuration does not parse: %v\n%s", err, buf.Bytes())
		}
		if !sameConfig(c, c2) {
			t.Fatalf("round trip changed the configuration:\n%+v\n%+v", c, c2)
		}
	})
}
