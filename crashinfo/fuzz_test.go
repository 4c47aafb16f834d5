package crashinfo_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/crashinfo"
)

// FuzzAnalyze feeds arbitrary logs (one record per line, "T<pid>|" caller prefixes
// as in recs) to Analyze: it must find a crash or say there is none, never panic, and
// keep its output consistent.
func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{nullDeref612, oops419, oops310, warnPanic61, warnThenSysrq, softLockup, hungTask, oldPid} {
		f.Add(s)
	}
	if data, err := os.ReadFile("testdata/debian-6.12-sysrq.jsonl"); err == nil {
		f.Add(string(data))
	}
	f.Fuzz(func(t *testing.T, log string) {
		if len(log) > 1<<20 {
			return
		}
		rep, err := crashinfo.Analyze(recs(log))
		if err != nil {
			if !errors.Is(err, crashinfo.ErrNoCrash) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if rep.Reason == "" && rep.Kind == "" || len(rep.Signature) != 16 || len(rep.SignatureFrames) > crashinfo.SignatureFrameCount {
			t.Fatalf("report %+v", rep)
		}
		if !strings.Contains(log, rep.Reason) {
			t.Fatalf("reason %q is not in the log", rep.Reason)
		}
	})
}
