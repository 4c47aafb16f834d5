package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelpShape: every command's --help starts with its usage line(s), "Usage: gokdump
// NAME ..." (and for dump, more "gokdump dump ..." lines), then a blank line, then the
// text; help is not an error.
func TestHelpShape(t *testing.T) {
	for name := range commands {
		var o, e bytes.Buffer
		code := run(context.Background(), []string{"gokdump", name, "--help"}, &o, &e)
		out := o.String() + e.String()
		if code != 0 {
			t.Errorf("%s --help: exit %d", name, code)
		}
		lines := strings.Split(out, "\n")
		if !strings.HasPrefix(lines[0], "Usage: gokdump "+name) {
			t.Errorf("%s --help: first line %q, want \"Usage: gokdump %s ...\"", name, lines[0], name)
			continue
		}
		i := 1
		for i < len(lines) && strings.HasPrefix(strings.TrimLeft(lines[i], " "), "gokdump "+name) {
			i++
		}
		if i+1 >= len(lines) || lines[i] != "" || strings.TrimSpace(lines[i+1]) == "" {
			t.Errorf("%s --help: the usage lines are not followed by a blank line and the text:\n%s", name, out)
		}
	}
}
