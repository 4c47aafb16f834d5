package capture

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/mm"
)

func parseConf(t *testing.T, text string) *config.Config {
	t.Helper()
	c, err := config.Parse(strings.NewReader(text), "kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseCollector(t *testing.T) {
	for _, tc := range []struct {
		conf   string
		codec  compress.Codec
		format collector.Format
		levels []mm.DumpLevel
		limit  int64
	}{
		{"", compress.LZO, collector.KdumpCompressed, []mm.DumpLevel{31}, 0},
		{"core_collector makedumpfile -c -d 1,31 -L 10M --num-threads 1", compress.Zlib, collector.KdumpCompressed, []mm.DumpLevel{1, 31}, 10 << 20},
		{"core_collector makedumpfile -E -d 17", compress.None, collector.ELF, []mm.DumpLevel{17}, 0},
		{"core_collector makedumpfile -zd31 --message-level 1", compress.Zstd, collector.KdumpCompressed, []mm.DumpLevel{31}, 0},
	} {
		c, err := ParseCollector(parseConf(t, tc.conf).Collector)
		if err != nil {
			t.Errorf("%q: %v", tc.conf, err)
			continue
		}
		if c.Options.Codec != tc.codec || c.Options.Format != tc.format || !reflect.DeepEqual(c.Levels, tc.levels) || c.Options.SizeLimit != tc.limit {
			t.Errorf("%q: codec %v format %v levels %v limit %d", tc.conf, c.Options.Codec, c.Options.Format, c.Levels, c.Options.SizeLimit)
		}
		if c.Args[0] != "makedumpfile" {
			t.Errorf("%q: args %q do not start with the program", tc.conf, c.Args)
		}
	}
	// -F is a raw target's stream (makedumpfile.CheckConfig refuses it for a file
	// system target).
	if c, err := ParseCollector(config.Collector{Program: "makedumpfile", Args: []string{"-F", "-l"}}); err != nil || !c.Options.Flattened {
		t.Errorf("-F: %+v, %v", c.Options, err)
	}
	if _, err := ParseCollector(config.Collector{Program: "makedumpfile", Args: []string{"-R"}}); err == nil || !strings.Contains(err.Error(), "only options that save") {
		t.Errorf("-R: %v", err)
	}
	if _, err := ParseCollector(config.Collector{Program: "makedumpfile", Args: []string{"--bogus"}}); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("--bogus: %v", err)
	}
}
