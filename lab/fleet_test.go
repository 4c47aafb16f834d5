package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/lab/kernelpkg"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/serve"
	"github.com/gokdump/gokdump/vmcore"
)

// labCrash is one lab crash as the fleet store holds it.
type labCrash struct {
	variant string
	rec     *fleet.Record
	dmesg   string
}

// TestLabFleetServe puts the lab's real crashes (sysrq-c on 6.12 and 6.1, init exiting
// on 6.12: the captures the other lab tests check, made once per run) into a directory
// crash store as "gokdump upload" lays it out, with each dump's info --json report and
// kernel log, serves it with gokdump serve on 127.0.0.1, and drives headless Chromium
// through the pages: the groups page lists the crashes under their two signatures (the
// sysrq group with both kernels), a group's page and a crash's page show the panic line
// and the kernel log. Screenshots of the three pages are kept under the cache's
// artifacts/ (the paths are logged).
func TestLabFleetServe(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	testenv.NeedPackages(t, map[string]string{"chromium": "chromium"})
	vs := []labVariant{variantNamed(t, "6.12-5level-kaslr"), initExit, variantNamed(t, "6.1-5level-kaslr")}
	results := make([]*Result, len(vs))
	t.Run("crash", func(t *testing.T) {
		for i, v := range vs {
			t.Run(v.name, func(t *testing.T) {
				t.Parallel()
				results[i] = crashFor(t, v)
			})
		}
	})
	if t.Failed() {
		return
	}

	st := fleet.Dir{Root: t.TempDir()}
	var crashes []labCrash
	for i, res := range results {
		crashes = append(crashes, storeLabCrash(t, st, vs[i].name, res))
	}
	vi, err := os.Stat(results[0].Vmcore)
	if err != nil {
		t.Fatal(err)
	}
	browseFleet(t, st, crashes[0], crashes[1], crashes[2], vi.Size())
}

// browseFleet serves st and drives Chromium through its pages: sysrq612 and sysrq61
// share a signature, exit612 has another; sysrq612's vmcore has vmcoreSize bytes.
func browseFleet(t *testing.T, st fleet.Dir, sysrq612, exit612, sysrq61 labCrash, vmcoreSize int64) {
	sysrqSig, exitSig := sysrq612.rec.Signature(), exit612.rec.Signature()
	if sysrqSig == "" || exitSig == "" || sysrqSig == exitSig || sysrq61.rec.Signature() != sysrqSig {
		t.Fatalf("signatures: sysrq 6.12 %q, 6.1 %q, init exit %q: want the two sysrq crashes in one group and init exit in another",
			sysrqSig, sysrq61.rec.Signature(), exitSig)
	}

	ix := serve.NewIndex(st, serve.Options{Logf: t.Logf})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := ix.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if s := ix.Stats(); s.Crashes != 3 || s.Groups != 2 || s.Skipped != 0 {
		t.Fatalf("index: %+v, want 3 crashes in 2 groups", s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serve.Serve(sctx, serve.NewServer(ln.Addr().String(), serve.Handler(ix)), ln) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	base := "http://" + ln.Addr().String()

	// A download is the stored dump, whole, with its length.
	resp, err := http.Head(base + "/crash/" + sysrq612.rec.ID + "/download/vmcore")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	switch stored := sysrq612.rec.Dump.State == fleet.DumpComplete; {
	case stored && (resp.StatusCode != 200 || resp.ContentLength != vmcoreSize):
		t.Errorf("HEAD of the vmcore download: %s, Content-Length %d; the vmcore has %d bytes", resp.Status, resp.ContentLength, vmcoreSize)
	case !stored && resp.StatusCode != 404:
		t.Errorf("HEAD of the download of a vmcore not in the store: %s, want 404", resp.Status)
	}

	artifacts := artifactDir(t)
	bctx, closeBrowser := browser(t, ctx)
	defer closeBrowser()
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot of the %s: %v", name, err)
		}
		p := filepath.Join(artifacts, strings.ReplaceAll(name, " ", "-")+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot of the %s: %s", name, p)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// open loads a page (by URL, or by clicking a link) and checks it came back 200.
	open := func(step chromedp.Action[chromedp.Void], what string) {
		t.Helper()
		resp, err := chromedp.RunResponse(bctx, step)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if resp.Status != 200 {
			t.Fatalf("%s: HTTP %d", what, resp.Status)
		}
	}

	// The groups page: both signatures, the sysrq group counting both kernels.
	open(chromedp.Navigate(base+"/"), "the groups page")
	shot("groups page")
	page := text("main")
	for _, want := range []string{sysrqSig, exitSig, panicLine(sysrq612.rec), panicLine(exit612.rec),
		sysrq612.rec.Info.Kernel.Release, sysrq61.rec.Info.Kernel.Release, "sysrq_handle_crash"} {
		if !strings.Contains(page, want) {
			t.Errorf("the groups page lacks %q:\n%s", want, page)
		}
	}
	if n := text(`tr:has(a[href="/group/` + sysrqSig + `"]) td.num`); strings.TrimSpace(n) != "2" {
		t.Errorf("the sysrq group counts %q crashes, want 2 (6.1 and 6.12)", n)
	}

	// A group's page, reached by its link: the panic line and the newest crash's log.
	open(chromedp.Click(chromedp.CSS(`a[href="/group/`+exitSig+`"]`)), "the init-exit group's link")
	shot("group page")
	if p := text("p.panic"); p != panicLine(exit612.rec) {
		t.Errorf("the group page's panic line is %q, want %q", p, panicLine(exit612.rec))
	}
	checkLogShown(t, "group page", text("pre.log"), exit612, false)

	// A crash's page, reached from the group: its report and its kernel log.
	open(chromedp.Click(chromedp.CSS(`table.crashes a[href="/crash/`+exit612.rec.ID+`"]`)), "the crash's link")
	shot("crash page")
	page = text("main")
	c := exit612.rec.Info.Crash
	for _, want := range []string{panicLine(exit612.rec), exit612.rec.Info.Kernel.Release, "init", fmt.Sprintf("PID %d", *c.PID),
		c.Frames[0].Function, "vmcore", "vmcore-dmesg.txt"} {
		if !strings.Contains(page, want) {
			t.Errorf("the crash page lacks %q:\n%s", want, page)
		}
	}
	checkLogShown(t, "crash page", text("pre.log"), exit612, true)

	// The sysrq crash on 6.1 through its own page.
	open(chromedp.Navigate(base+"/crash/"+sysrq61.rec.ID), "the 6.1 crash's page")
	if p := text("p.panic"); p != panicLine(sysrq61.rec) {
		t.Errorf("the 6.1 crash page's panic line is %q, want %q", p, panicLine(sysrq61.rec))
	}
	checkLogShown(t, "6.1 crash page", text("pre.log"), sysrq61, true)
}

func panicLine(r *fleet.Record) string {
	if r.Info.Crash.Panic != "" {
		return "Kernel panic - not syncing: " + r.Info.Crash.Panic
	}
	return r.Info.Crash.Reason
}

// checkLogShown: the page shows a part of the crash's kernel log holding the panic
// line, and, when end is set, the log's end.
func checkLogShown(t *testing.T, where, shown string, c labCrash, end bool) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(c.dmesg, "\n"), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	shown = strings.TrimSpace(shown)
	if !strings.Contains(shown, panicLine(c.rec)) || end && !strings.HasSuffix(shown, last) ||
		!strings.Contains(c.dmesg, shown[:min(500, len(shown))]) || !strings.Contains(c.dmesg, shown[max(len(shown)-500, 0):]) {
		t.Errorf("%s: the kernel log shown (%d bytes) is not the part of the crash's log with its panic line %q (its last line %q):\n%.3000s",
			where, len(shown), panicLine(c.rec), last, shown)
	}
}

// storeLabCrash writes a lab capture into st as an upload would: meta.json with the
// dump's info --json report, the kernel log, a status file, and the vmcore (a hard
// link, the capture being hundreds of MiB).
func storeLabCrash(t *testing.T, st fleet.Dir, name string, res *Result) labCrash {
	t.Helper()
	f, err := vmcore.Open(res.Vmcore)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := crashinfo.Describe(f, crashinfo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Crash == nil {
		t.Fatalf("%s: no crash in the report: %v", name, info.Warnings)
	}
	log, err := printk.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var dmesg bytes.Buffer
	if err := log.WriteText(&dmesg); err != nil {
		t.Fatal(err)
	}
	crashTime, err := time.Parse(time.RFC3339, info.CrashTime)
	if err != nil {
		t.Fatalf("%s: crash time %q: %v", name, info.CrashTime, err)
	}
	sum := sha256.Sum256([]byte(name))
	machineID := hex.EncodeToString(sum[:16])
	id := fleet.IDFor(crashTime, machineID)
	ctx := context.Background()
	put := func(obj string, b []byte) {
		t.Helper()
		if err := st.Put(ctx, fleet.Key("", id, obj), bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	put(fleet.DmesgObject, dmesg.Bytes())
	status, _ := json.Marshal(dumpdir.Status{Version: dumpdir.StatusVersion, Result: dumpdir.Complete, Start: crashTime,
		End: crashTime.Add(res.Elapsed), Host: "lab-" + name, KernelRelease: info.Kernel.Release, CrashTime: crashTime,
		PanicLine: info.Crash.Panic, Dump: dumpdir.DumpFile, Dmesg: fleet.DmesgObject})
	put(fleet.StatusObject, status)
	vi, err := os.Stat(res.Vmcore)
	if err != nil {
		t.Fatal(err)
	}
	dump := &fleet.DumpState{State: fleet.DumpComplete, Object: fleet.Object{Key: fleet.Key("", id, fleet.DumpObject), Size: vi.Size()}}
	if err := os.Link(res.Vmcore, filepath.Join(st.Root, filepath.FromSlash(dump.Key))); err != nil {
		t.Logf("%s: the vmcore is not in the store (%v): its dump is recorded as sampled", name, err)
		dump.State = fleet.DumpSampled
	}
	rec := &fleet.Record{Schema: fleet.Schema, ID: id, Uploaded: time.Now().UTC(),
		Host: fleet.Host{Hostname: "lab-" + name, MachineID: machineID, KernelRelease: info.Kernel.Release, BuildID: info.Kernel.BuildID},
		Info: info, Status: status, Dmesg: &fleet.Object{Key: fleet.Key("", id, fleet.DmesgObject), Size: int64(dmesg.Len())}, Dump: dump}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	put(fleet.MetaObject, b)
	t.Logf("%s: crash %s, signature %s: %s", name, id, rec.Signature(), panicLine(rec))
	return labCrash{variant: name, rec: rec, dmesg: dmesg.String()}
}

// artifactDir is where a test keeps what a person may want to look at afterwards:
// $GOKDUMP_ARTIFACTS, else artifacts/ in the cache (next to kernels/).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("GOKDUMP_ARTIFACTS")
	if dir == "" {
		k, err := kernelpkg.DefaultCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(filepath.Dir(k), "artifacts")
	}
	dir = filepath.Join(dir, "fleet-serve")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts headless Chromium for pages on 127.0.0.1 only: every host name
// resolves to nothing and background networking is off, so it reaches no other
// address.
func browser(t *testing.T, ctx context.Context) (context.Context, func()) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1000),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	tctx, cancelTimeout := context.WithTimeout(bctx, 3*time.Minute)
	if err := chromedp.Do(tctx); err != nil {
		cancelTimeout()
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("starting %s: %v", bin, err)
	}
	return tctx, func() { cancelTimeout(); cancelBrowser(); cancelAlloc() }
}
