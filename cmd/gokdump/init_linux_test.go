package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestInitRefusesOtherPIDs(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"gokdump", "init"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "PID 1") {
		t.Errorf("gokdump init as PID %d: code %d, stderr %q", os.Getpid(), code, errb.String())
	}
}
