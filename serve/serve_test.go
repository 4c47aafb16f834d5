package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/gokdump/gokdump/internal/s3test"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/internal/fleetgen"
)

// testLog collects what an index logs.
type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) logf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, a...))
}

func (l *testLog) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func putRecord(t *testing.T, st fleet.Store, r *fleet.Record) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), fleet.Key("", r.ID, fleet.MetaObject), strings.NewReader(string(b)), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

func putObject(t *testing.T, st fleet.Store, id, name, body string) {
	t.Helper()
	if err := st.Put(context.Background(), fleet.Key("", id, name), strings.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
}

// fixture is a directory store of generated crashes plus hostile and broken records.
type fixture struct {
	st      fleet.Dir
	records []*fleet.Record
	evil    *fleet.Record // a record whose strings are HTML
	log     *testLog
	ix      *Index
	srv     *httptest.Server
}

const evilReason = `<script>alert("x")</script> & "quoted"`

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	f := &fixture{st: fleet.Dir{Root: t.TempDir()}, log: &testLog{}}
	shape := fleetgen.DefaultShape
	shape.Signatures = 5
	for i := range n {
		r := fleetgen.Record(i, shape)
		f.records = append(f.records, r)
		putRecord(t, f.st, r)
		putObject(t, f.st, r.ID, fleet.DmesgObject, fleetgen.Dmesg(r.Info))
	}
	// One crash with a dump and a status file to download.
	putObject(t, f.st, f.records[0].ID, fleet.DumpObject, "KDUMP   dump bytes")
	putObject(t, f.st, f.records[0].ID, fleet.StatusObject, string(f.records[0].Status))

	// A record whose reason, host and frames are markup.
	e := fleetgen.Record(n, shape)
	e.Info.Crash.Reason = evilReason
	e.Info.Crash.Panic = evilReason
	e.Info.Crash.Signature = "e711e711e711e711"
	e.Info.Crash.SignatureFrames = []string{"<b>frame</b>"}
	e.Host.Hostname = "<i>host</i>"
	e.Info.Kernel.Nodename = "<i>host</i>"
	f.evil = e
	putRecord(t, f.st, e)
	putObject(t, f.st, e.ID, fleet.DmesgObject, "[ 1.0] </pre><script>alert(1)</script>\n")

	// Broken ones: each must be skipped with its reason, and the rest served.
	putObject(t, f.st, "20260101T000000Z-notjson", fleet.MetaObject, "not json")
	putObject(t, f.st, "20260101T000000Z-schema9", fleet.MetaObject, `{"schema":9,"id":"20260101T000000Z-schema9"}`)
	putObject(t, f.st, "20260101T000000Z-otherid", fleet.MetaObject, `{"schema":1,"id":"20260101T000000Z-another"}`)
	big := `{"schema":1,"id":"20260101T000000Z-toobig","pad":"` + strings.Repeat("x", fleet.MaxRecordSize) + `"}`
	putObject(t, f.st, "20260101T000000Z-toobig", fleet.MetaObject, big)
	putObject(t, f.st, "20260101T000000Z-nometa", fleet.DmesgObject, "a log without a record\n")
	// Keys outside the layout are not crashes.
	if err := os.MkdirAll(filepath.Join(f.st.Root, "crashes", "bad id!"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(f.st.Root, "crashes", "bad id!", fleet.MetaObject), []byte("{}"), 0o600)
	os.WriteFile(filepath.Join(f.st.Root, "crashes", "stray.json"), []byte("{}"), 0o600)

	f.ix = NewIndex(f.st, Options{Logf: f.log.logf})
	if err := f.ix.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(Handler(f.ix))
	t.Cleanup(f.srv.Close)
	return f
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestIndexSkipsBrokenRecords(t *testing.T) {
	f := newFixture(t, 30)
	s := f.ix.Stats()
	if s.Crashes != 31 || s.Skipped != 4 {
		t.Errorf("index: %d crashes, %d skipped; want 31 (30 + the markup one) and 4 broken", s.Crashes, s.Skipped)
	}
	for _, want := range []string{"notjson: ", "schema 9", `the record's id is "20260101T000000Z-another"`, "toobig/meta.json: 41943", "bytes, larger than fleet.MaxRecordSize"} {
		if !f.log.has(want) {
			t.Errorf("the log does not say %q:\n%s", want, strings.Join(f.log.lines, "\n"))
		}
	}
	// Groups: counts add up, first <= last, newest first.
	gs, total := f.ix.Groups(0, 1000)
	sum := 0
	for i, g := range gs {
		sum += g.Count
		if g.First.After(g.Last) || len(g.Crashes) != g.Count || g.Latest != g.Crashes[0] {
			t.Errorf("group %s: first %v last %v, %d crashes listed of %d", g.Signature, g.First, g.Last, len(g.Crashes), g.Count)
		}
		if i > 0 && gs[i-1].Last.Before(g.Last) {
			t.Errorf("groups not sorted by last seen: %v before %v", gs[i-1].Last, g.Last)
		}
	}
	if sum != 31 || total != len(gs) || total < 3 {
		t.Errorf("%d groups with %d crashes in all, want 31 crashes in a few groups", total, sum)
	}
	// A poll with nothing changed reads nothing again, and logs no skip twice.
	n := len(f.log.lines)
	cs := &countingStore{Store: f.st}
	f.ix.st = cs
	if err := f.ix.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cs.gets != 0 || len(f.log.lines) != n {
		t.Errorf("an unchanged store: %d records read again, %d new log lines", cs.gets, len(f.log.lines)-n)
	}
}

type countingStore struct {
	fleet.Store
	mu   sync.Mutex
	gets int
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Store.Get(ctx, key)
}

func TestPages(t *testing.T) {
	f := newFixture(t, 30)
	r0 := f.records[0]
	sig := r0.Signature()

	resp, body := get(t, f.srv.URL+"/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("/: no security headers: %v", resp.Header)
	}
	for _, want := range []string{`href="/group/` + sig + `"`, escaped("Kernel panic - not syncing: " + r0.Info.Crash.Panic), escaped(r0.Info.Crash.Reason), r0.Info.Kernel.Release, "31 crashes", "4 records skipped"} {
		if !strings.Contains(body, want) {
			t.Errorf("/ lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "<i>host") || strings.Contains(body, "<b>frame") {
		t.Errorf("/ holds a record's markup unescaped")
	}
	if !strings.Contains(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;quoted&#34;") {
		t.Errorf("/ lacks the escaped markup reason")
	}

	resp, body = get(t, f.srv.URL+"/group/"+sig)
	if resp.StatusCode != 200 {
		t.Fatalf("/group/%s: %s", sig, resp.Status)
	}
	g := f.ix.Group(sig)
	for _, c := range g.Crashes {
		if !strings.Contains(body, `href="/crash/`+c.ID+`"`) {
			t.Errorf("group page lacks crash %s", c.ID)
		}
	}
	if !strings.Contains(body, "The crash report in the kernel log of the newest crash") || !strings.Contains(body, escaped(g.Latest.PanicLine())) || !strings.Contains(body, escaped(g.Latest.Reason)) {
		t.Errorf("group page lacks the panic line or the newest crash's log")
	}

	resp, body = get(t, f.srv.URL+"/crash/"+r0.ID)
	if resp.StatusCode != 200 {
		t.Fatalf("/crash: %s", resp.Status)
	}
	c := r0.Info.Crash
	for _, want := range []string{escaped("Kernel panic - not syncing: " + c.Panic), escaped(c.Reason), c.Comm, "PID " + strconv.Itoa(*c.PID), "CPU " + strconv.Itoa(*c.CPU),
		r0.Info.Kernel.Release, r0.Host.Hostname, c.Frames[0].Function, "boot message 39", // the log's end
		`href="/crash/` + r0.ID + `/download/vmcore"`, `href="/crash/` + r0.ID + `/download/gokdump-status.json"`,
		`href="/crash/` + r0.ID + `/download/vmcore-dmesg.txt"`, "complete"} {
		if !strings.Contains(body, want) {
			t.Errorf("crash page lacks %q", want)
		}
	}
	_, body = get(t, f.srv.URL+"/crash/"+f.records[1].ID)
	if strings.Contains(body, "/download/vmcore\"") {
		t.Errorf("crash page links a dump that is not in the store")
	}
	_, body = get(t, f.srv.URL+"/crash/"+f.evil.ID)
	if strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;/pre&gt;&lt;script&gt;") {
		t.Errorf("crash page: the kernel log or reason is not escaped")
	}

	// The kernel log and downloads: as stored, with their length.
	resp, body = get(t, f.srv.URL+"/crash/"+r0.ID+"/dmesg")
	if want := fleetgen.Dmesg(r0.Info); resp.StatusCode != 200 || body != want || resp.ContentLength != int64(len(want)) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("dmesg: %s, %d bytes (Content-Length %d), %s", resp.Status, len(body), resp.ContentLength, resp.Header.Get("Content-Type"))
	}
	resp, body = get(t, f.srv.URL+"/crash/"+r0.ID+"/download/vmcore")
	if resp.StatusCode != 200 || body != "KDUMP   dump bytes" || resp.ContentLength != 18 ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), r0.ID+"-vmcore") {
		t.Errorf("download: %s %q %d %q", resp.Status, body, resp.ContentLength, resp.Header.Get("Content-Disposition"))
	}
	for path, code := range map[string]int{
		"/crash/" + r0.ID + "/download/meta.json":        404,
		"/crash/" + r0.ID + "/download/..%2fmeta.json":   404,
		"/crash/" + f.records[1].ID + "/download/vmcore": 404,
		"/crash/..%2f..%2fetc/dmesg":                     400,
		"/crash/not.an.id":                               400,
		"/crash/20990101T000000Z-missing":                404,
		"/crash/20260101T000000Z-notjson":                502,
		"/group/nosuchgroup":                             404,
		"/group/<x>":                                     400,
		"/nothing":                                       404,
		"/api/crash/20990101T000000Z-missing":            404,
	} {
		resp, _ := get(t, f.srv.URL+path)
		if resp.StatusCode != code {
			t.Errorf("%s: %s, want %d", path, resp.Status, code)
		}
	}
	resp, err := http.Post(f.srv.URL+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %s, want 405", resp.Status)
	}
}

// escaped is how html/template writes s in text.
func escaped(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;")
	return r.Replace(s)
}

func TestAPI(t *testing.T) {
	f := newFixture(t, 30)
	var groups struct {
		Crashes int `json:"crashes"`
		Skipped int `json:"skipped"`
		Paging  struct{ Total int }
		Groups  []GroupJSON
	}
	getJSON(t, f.srv.URL+"/api/groups", &groups)
	if groups.Crashes != 31 || groups.Skipped != 4 || len(groups.Groups) != groups.Paging.Total {
		t.Fatalf("/api/groups: %+v", groups)
	}
	sig := f.records[0].Signature()
	var g struct {
		Group   GroupJSON
		Crashes []CrashJSON
	}
	getJSON(t, f.srv.URL+"/api/group/"+sig, &g)
	if g.Group.Signature != sig || g.Group.Count != len(g.Crashes) || g.Group.Panic != f.records[0].Info.Crash.Panic || g.Group.PanicLine != "Kernel panic - not syncing: Fatal exception" || len(g.Group.Frames) == 0 {
		t.Errorf("/api/group: %+v", g.Group)
	}
	found := false
	for _, c := range g.Crashes {
		found = found || c.ID == f.records[0].ID
	}
	if !found {
		t.Errorf("/api/group lacks crash %s", f.records[0].ID)
	}
	var c struct {
		Record    fleet.Record
		Group     string
		Downloads []download
	}
	getJSON(t, f.srv.URL+"/api/crash/"+f.records[0].ID, &c)
	if c.Record.ID != f.records[0].ID || c.Group != sig || c.Record.Info.Crash.Reason != f.records[0].Info.Crash.Reason || len(c.Downloads) != 3 {
		t.Errorf("/api/crash: %+v", c)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, body := get(t, url)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

// TestPaging: 250 crashes of distinct signatures make 3 pages of groups, the last
// with 50, and a page past the end shows the last.
func TestPaging(t *testing.T) {
	st := fleet.Dir{Root: t.TempDir()}
	shape := fleetgen.DefaultShape
	shape.Signatures = 100000
	n := 0
	seen := map[string]bool{}
	for i := 0; n < 250; i++ {
		r := fleetgen.Record(i, shape)
		if seen[r.Signature()] {
			continue
		}
		seen[r.Signature()] = true
		putRecord(t, st, r)
		n++
	}
	ix := NewIndex(st, Options{Logf: t.Logf})
	if err := ix.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(ix))
	defer srv.Close()
	for page, want := range map[string]int{"1": 100, "2": 100, "3": 50, "99": 50, "x": 100} {
		var out struct {
			Paging struct{ Page, Pages, Total int }
			Groups []GroupJSON
		}
		getJSON(t, srv.URL+"/api/groups?page="+page, &out)
		if len(out.Groups) != want || out.Paging.Pages != 3 || out.Paging.Total != 250 {
			t.Errorf("page %s: %d groups, paging %+v; want %d of 250 on 3 pages", page, len(out.Groups), out.Paging, want)
		}
	}
	_, body := get(t, srv.URL+"/?page=2")
	if !strings.Contains(body, `href="/?page=3"`) || !strings.Contains(body, `href="/?page=1"`) || !strings.Contains(body, "page 2 of 3") {
		t.Errorf("page 2 lacks its links to pages 1 and 3")
	}
}

// TestTwoInstances: two servers over one store, each with its own index kept current
// by polling, both see a crash added later and both drop a crash deleted; a record
// rewritten with another signature moves to that group.
func TestTwoInstances(t *testing.T) { twoInstances(t, fleet.Dir{Root: t.TempDir()}) }

// TestTwoInstancesS3: the same against a real S3 server (SeaweedFS on 127.0.0.1)
// through the S3 store gokdump upload writes: two servers with no state of their own
// over one bucket.
func TestTwoInstancesS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real S3 server (SeaweedFS); not in -short")
	}
	srv := s3test.Start(t)
	st, err := fleet.NewS3(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	twoInstances(t, st)
}

// twoInstances runs two polling servers over st and checks both see a crash added, one
// moved to another group and one deleted.
func twoInstances(t *testing.T, st fleet.Store) {
	shape := fleetgen.DefaultShape
	shape.Signatures = 3
	for i := range 5 {
		r := fleetgen.Record(i, shape)
		putRecord(t, st, r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var urls []string
	for range 2 {
		ix := NewIndex(st, Options{Poll: 20 * time.Millisecond, Logf: t.Logf})
		if err := ix.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		go ix.Run(ctx)
		srv := httptest.NewServer(Handler(ix))
		defer srv.Close()
		urls = append(urls, srv.URL)
	}
	// waitFor polls each server's API until cond holds, for at most 10 s.
	waitFor := func(what string, cond func(url string) bool) {
		t.Helper()
		for _, u := range urls {
			deadline := time.Now().Add(10 * time.Second)
			for !cond(u) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: %s not seen after 10 s", u, what)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	status := func(u, path string) int {
		resp, err := http.Get(u + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	added := fleetgen.Record(100, shape)
	added.Info.Crash.Signature = "00000000000000ad"
	putRecord(t, st, added)
	waitFor("the added crash", func(u string) bool { return status(u, "/api/group/00000000000000ad") == 200 })

	moved := fleetgen.Record(0, shape)
	old := moved.Signature()
	moved.Info.Crash.Signature = "00000000000000bb"
	putRecord(t, st, moved)
	waitFor("the rewritten crash in its new group", func(u string) bool {
		var g struct{ Crashes []CrashJSON }
		if status(u, "/api/group/00000000000000bb") != 200 {
			return false
		}
		getJSON(t, u+"/api/group/00000000000000bb", &g)
		return len(g.Crashes) == 1 && g.Crashes[0].ID == moved.ID
	})
	for _, u := range urls {
		var g struct{ Crashes []CrashJSON }
		if status(u, "/api/group/"+old) == 200 {
			getJSON(t, u+"/api/group/"+old, &g)
			for _, c := range g.Crashes {
				if c.ID == moved.ID {
					t.Errorf("%s: crash %s is still in its old group %s", u, moved.ID, old)
				}
			}
		}
	}

	if err := st.Delete(ctx, fleet.Key("", added.ID, fleet.MetaObject)); err != nil {
		t.Fatal(err)
	}
	waitFor("the deleted crash gone", func(u string) bool {
		return status(u, "/api/group/00000000000000ad") == 404 && status(u, "/crash/"+added.ID) == 404
	})
}

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:80": true, "localhost:8080": true, "127.1.2.3:1": true,
		":8080": false, "0.0.0.0:8080": false, "192.0.2.1:80": false, "[::]:80": false, "example.org:80": false,
		"127.0.0.1": false,
	} {
		if err := CheckListen(addr, false); (err == nil) != ok {
			t.Errorf("CheckListen(%q) = %v, want ok %v", addr, err, ok)
		}
	}
	if err := CheckListen("0.0.0.0:8080", true); err != nil {
		t.Errorf("CheckListen with remote allowed: %v", err)
	}
}

type namedStore struct{ fleet.Dir }

func (namedStore) String() string { return "https://KEY:SECRET@s3.example/bucket/prefix" }

func TestStoreNameHasNoCredentials(t *testing.T) {
	if n := StoreName(namedStore{}); strings.Contains(n, "SECRET") || strings.Contains(n, "KEY") {
		t.Errorf("StoreName = %q", n)
	}
}

// TestListenAndServe: the server answers on its address, and a cancelled context
// shuts it down.
func TestListenAndServe(t *testing.T) {
	ix := NewIndex(fleet.Dir{Root: t.TempDir()}, Options{Logf: t.Logf})
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- ListenAndServe(ctx, NewServer("127.0.0.1:0", Handler(ix)), func(a net.Addr) { addr <- a })
	}()
	var a net.Addr
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not listening after 10 s")
	}
	resp, body := get(t, "http://"+a.String()+"/")
	if resp.StatusCode != 200 || !strings.Contains(body, "No crashes in the store yet") {
		t.Errorf("empty store: %s %q", resp.Status, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no shutdown 15 s after the context was cancelled")
	}
}

func TestTailWriter(t *testing.T) {
	for _, chunk := range []int{1, 3, 7, 100} {
		tw := &tailWriter{max: 10}
		s := "0123456789abcdefghijklmnopqrstuvwxyz"
		for i := 0; i < len(s); i += chunk {
			tw.Write([]byte(s[i:min(i+chunk, len(s))]))
		}
		if got := string(tw.bytes()); got != s[len(s)-10:] {
			t.Errorf("chunks of %d: tail %q", chunk, got)
		}
	}
}

// FuzzRecord serves any meta.json: the index takes it or skips it, and its pages
// render without a panic, escaped.
func FuzzRecord(f *testing.F) {
	r := fleetgen.Record(1, fleetgen.DefaultShape)
	b, _ := json.Marshal(r)
	f.Add(string(b))
	f.Add(`{"schema":1,"id":"20260101T000000Z-abc","info":{"crash":{"signature":"../x","reason":"<b>"}}}`)
	f.Add(`{"schema":1,"id":"20260101T000000Z-abc","info":{"crash_time":"x","crash":{"cpu":-5,"pid":null}},"status":{"result":7}}`)
	f.Add(`{"schema":1,"id":"20260101T000000Z-abc","dump":{"state":"complete","size":-1}}`)
	f.Fuzz(func(t *testing.T, meta string) {
		if len(meta) > 1<<16 {
			return
		}
		st := newMemStore()
		id := "20260101T000000Z-abc"
		putObject(t, st, id, fleet.MetaObject, meta)
		ix := NewIndex(st, Options{Logf: func(string, ...any) {}})
		if err := ix.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		h := Handler(ix)
		paths := []string{"/", "/api/groups", "/crash/" + id, "/api/crash/" + id}
		if c := ix.Crash(id); c != nil {
			paths = append(paths, "/group/"+c.Signature, "/api/group/"+c.Signature)
		}
		for _, p := range paths {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", p, nil))
			if w.Code >= 500 && w.Code != http.StatusBadGateway {
				t.Fatalf("%s: %d %s", p, w.Code, w.Body)
			}
		}
	})
}

// TestMaxRecords: past Options.MaxRecords crashes are left out, counted and logged.
func TestMaxRecords(t *testing.T) {
	st := fleet.Dir{Root: t.TempDir()}
	for i := range 5 {
		putRecord(t, st, fleetgen.Record(i, fleetgen.DefaultShape))
	}
	l := &testLog{}
	ix := NewIndex(st, Options{MaxRecords: 3, Logf: l.logf})
	if err := ix.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := ix.Stats(); s.Crashes != 3 || s.Skipped != 2 || !l.has("2 further crashes left out") {
		t.Errorf("stats %+v, log %q", s, l.lines)
	}
}

// memStore is a fleet.Store in memory: serve needs nothing but the interface.
type memStore struct {
	mu   sync.Mutex
	objs map[string]memObject
	n    int
}

type memObject struct {
	data []byte
	etag string
}

func newMemStore() *memStore { return &memStore{objs: map[string]memObject{}} }

func (m *memStore) String() string { return "mem://" }

func (m *memStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if size >= 0 && int64(len(b)) != size {
		return fmt.Errorf("%s: %d bytes, want %d", key, len(b), size)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	m.objs[key] = memObject{b, strconv.Itoa(m.n)}
	return nil
}

func (m *memStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, fleet.ErrNotExist)
	}
	return io.NopCloser(strings.NewReader(string(o.data))), nil
}

func (m *memStore) Stat(ctx context.Context, key string) (fleet.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if !ok {
		return fleet.ObjectInfo{}, fmt.Errorf("%s: %w", key, fleet.ErrNotExist)
	}
	return fleet.ObjectInfo{Key: key, Size: int64(len(o.data)), ETag: o.etag}, nil
}

func (m *memStore) List(ctx context.Context, prefix string, fn func(fleet.ObjectInfo) error) error {
	m.mu.Lock()
	var keys []string
	for k := range m.objs {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	slices.Sort(keys)
	for _, k := range keys {
		oi, err := m.Stat(ctx, k)
		if err != nil {
			continue
		}
		if err := fn(oi); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) Delete(ctx context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}

// TestAnyStore: the index and pages work over a store that is not a directory, and a
// record rewritten in place (a new ETag) is read again.
func TestAnyStore(t *testing.T) {
	st := newMemStore()
	r := fleetgen.Record(1, fleetgen.DefaultShape)
	putRecord(t, st, r)
	putObject(t, st, r.ID, fleet.DmesgObject, fleetgen.Dmesg(r.Info))
	ix := NewIndex(st, Options{Logf: t.Logf})
	if err := ix.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(ix))
	defer srv.Close()
	resp, body := get(t, srv.URL+"/crash/"+r.ID)
	if resp.StatusCode != 200 || !strings.Contains(body, "boot message 39") || !strings.Contains(body, "mem://") {
		t.Fatalf("crash page over a memory store: %s", resp.Status)
	}
	r.Info.Crash.Reason = "BUG: rewritten"
	putRecord(t, st, r)
	if err := ix.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := ix.Crash(r.ID); c == nil || c.Reason != "BUG: rewritten" {
		t.Errorf("the rewritten record was not read again: %+v", c)
	}
}
