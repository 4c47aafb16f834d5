package serve

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/fleet"
)

// Page sizes: the groups page and a group's page show this many rows per page, so a
// page costs the same at 100 crashes and at 100,000.
const (
	GroupsPerPage  = 100
	CrashesPerPage = 100
	// hostsShown is how many hosts (by crash count) a group lists; the rest are counted.
	hostsShown = 8
)

// Bounds of what a page reads from the store.
const (
	// logTail is how much of the end of a kernel log a crash's page shows (the crash
	// report is at the end).
	logTail = 64 << 10
	// A group's page shows its newest crash's report from the log: from a few lines
	// (groupLogContext) before the report's first line to the end, at most
	// groupLogLines lines; the last groupLogLines lines when the log lacks that line.
	groupLogLines   = 150
	groupLogContext = 5
	// maxLogScan bounds the bytes read to find a log's tail, and MaxDmesg the log
	// /crash/<id>/dmesg sends: a kernel log is at most a few MiB (log_buf_len).
	maxLogScan = 32 << 20
	MaxDmesg   = 64 << 20
	// storeTimeout bounds a page's reads from the store.
	storeTimeout = 20 * time.Second
)

// Downloads are the objects /crash/<id>/download/<name> sends, and only these.
var Downloads = []string{fleet.DumpObject, fleet.DmesgObject, fleet.StatusObject}

//go:embed templates/*.html static/style.css
var assets embed.FS

// pages are the parsed page templates, parsed on first use: every gokdump command links
// this package, and parsing them at start-up cost each one (a dump in the capture kernel
// included) about half a millisecond.
var pages = sync.OnceValue(func() map[string]*template.Template {
	funcs := template.FuncMap{
		"when":      when,
		"size":      sizeOf,
		"add":       func(a, b int) int { return a + b },
		"hostsMore": func(g *Group) int { return max(len(g.Hosts)-hostsShown, 0) },
		"panicLine": func(c *crashinfo.CrashSummary) string { return panicLine(c.Panic, c.Reason) },
		"hosts":     func(g *Group) []Count { return g.Hosts[:min(len(g.Hosts), hostsShown)] },
	}
	m := map[string]*template.Template{}
	for _, p := range []string{"groups", "group", "crash", "error"} {
		m[p] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+p+".html"))
	}
	return m
})

func when(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// sizeOf is humanSize of a signed or unsigned size.
func sizeOf(v any) string {
	switch n := v.(type) {
	case int64:
		return humanSize(n)
	case uint64:
		return humanSize(int64(min(n, 1<<62)))
	case int:
		return humanSize(int64(n))
	}
	return fmt.Sprint(v)
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// handler serves the pages and the API of one index.
type handler struct {
	ix *Index
}

// Handler returns the web pages and the JSON API over ix:
//
//	/                                crash groups by signature, newest first (?page=N)
//	/group/<signature>               one group's crashes (?page=N)
//	/crash/<id>                      one crash's report and the end of its kernel log
//	/crash/<id>/dmesg                its kernel log (text, up to MaxDmesg)
//	/crash/<id>/download/<name>      one of Downloads, as stored
//	/api/groups, /api/group/<signature>, /api/crash/<id>   the same as JSON
func Handler(ix *Index) http.Handler {
	h := &handler{ix: ix}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.groupsPage)
	mux.HandleFunc("GET /style.css", h.style)
	mux.HandleFunc("GET /group/{sig}", h.groupPage)
	mux.HandleFunc("GET /crash/{id}", h.crashPage)
	mux.HandleFunc("GET /crash/{id}/dmesg", h.dmesg)
	mux.HandleFunc("GET /crash/{id}/download/{name}", h.download)
	mux.HandleFunc("GET /api/groups", h.apiGroups)
	mux.HandleFunc("GET /api/group/{sig}", h.apiGroup)
	mux.HandleFunc("GET /api/crash/{id}", h.apiCrash)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusNotFound, "no such page")
	})
	return securityHeaders(mux)
}

func (h *handler) style(w http.ResponseWriter, r *http.Request) {
	b, _ := assets.ReadFile("static/style.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write(b)
}

// page is what every page template gets.
type page struct {
	Title string
	Store string
	Stats Stats
	Data  any
}

func (h *handler) render(w http.ResponseWriter, status int, name, title string, data any) {
	var buf bytes.Buffer
	err := pages()[name].Execute(&buf, page{Title: title, Store: StoreName(h.ix.st), Stats: h.ix.Stats(), Data: data})
	if err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail answers an error: a page for a browser, JSON under /api/.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	h.render(w, status, "error", http.StatusText(status), msg)
}

// StoreName is st's name without credentials a URL-like name could carry.
func StoreName(st fleet.Store) string {
	s := st.String()
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return s
}

// pageNumber is ?page=N (1-based), clamped to [1, pages].
func pageNumber(r *http.Request, total, per int) (n, pages int) {
	pages = max((total+per-1)/per, 1)
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		n = 1
	}
	return min(n, pages), pages
}

// Paging is a page's position among its pages.
type Paging struct {
	Page, Pages, Total, PerPage int
	Base                        string // the page's path
}

func (p Paging) Prev() int { return p.Page - 1 }
func (p Paging) Next() int {
	if p.Page < p.Pages {
		return p.Page + 1
	}
	return 0
}

type groupsData struct {
	Groups []*Group
	Paging
}

func (h *handler) groups(r *http.Request) groupsData {
	_, total := h.ix.Groups(0, 0)
	n, pages := pageNumber(r, total, GroupsPerPage)
	gs, total := h.ix.Groups((n-1)*GroupsPerPage, GroupsPerPage)
	return groupsData{Groups: gs, Paging: Paging{Page: n, Pages: pages, Total: total, PerPage: GroupsPerPage, Base: "/"}}
}

func (h *handler) groupsPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, http.StatusOK, "groups", "Crash groups", h.groups(r))
}

type groupData struct {
	Group   *Group
	Crashes []*Crash
	Log     *logTailData // the end of the newest crash's kernel log
	Paging
}

func (h *handler) group(w http.ResponseWriter, r *http.Request) (*groupData, bool) {
	sig := r.PathValue("sig")
	if !validSignature(sig) {
		h.fail(w, r, http.StatusBadRequest, "not a crash signature")
		return nil, false
	}
	g := h.ix.Group(sig)
	if g == nil {
		h.fail(w, r, http.StatusNotFound, "no crash has the signature "+sig)
		return nil, false
	}
	n, pages := pageNumber(r, len(g.Crashes), CrashesPerPage)
	return &groupData{Group: g, Crashes: window(g.Crashes, (n-1)*CrashesPerPage, CrashesPerPage),
		Paging: Paging{Page: n, Pages: pages, Total: len(g.Crashes), PerPage: CrashesPerPage, Base: "/group/" + sig}}, true
}

func (h *handler) groupPage(w http.ResponseWriter, r *http.Request) {
	d, ok := h.group(w, r)
	if !ok {
		return
	}
	if d.Group.Latest.Objects&HasDmesg != 0 {
		d.Log = h.logTail(r.Context(), d.Group.Latest.ID, groupLogLines, d.Group.Latest.Reason)
	}
	h.render(w, http.StatusOK, "group", "Crash group "+d.Group.Signature, d)
}

// crashData is one crash's page: its record as stored and the end of its log.
type crashData struct {
	ID        string
	Crash     *Crash // the index's summary (nil when the index does not have it yet)
	Record    *fleet.Record
	Status    *dumpdir.Status // the capture's status file, when it parses
	Log       *logTailData
	Downloads []download
}

type download struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Size int64  `json:"size,omitempty"`
}

type logTailData struct {
	Text      string
	Truncated bool // the log is longer than what is shown
	Err       string
}

func (h *handler) crash(w http.ResponseWriter, r *http.Request) (*crashData, bool) {
	id := r.PathValue("id")
	if !fleet.ValidID(id) {
		h.fail(w, r, http.StatusBadRequest, "not a crash id")
		return nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	rec, err := fleet.ReadRecord(ctx, h.ix.st, fleet.Key(h.ix.opt.Prefix, id, fleet.MetaObject))
	switch {
	case errors.Is(err, fleet.ErrNotExist):
		h.fail(w, r, http.StatusNotFound, "no crash "+id)
		return nil, false
	case err != nil:
		h.ix.opt.Logf("serve: crash %s: %v", id, err)
		h.fail(w, r, http.StatusBadGateway, "the crash's record cannot be read (the server's log says why)")
		return nil, false
	case rec.ID != id:
		h.fail(w, r, http.StatusBadGateway, "the crash's record names another id")
		return nil, false
	}
	d := &crashData{ID: id, Crash: h.ix.Crash(id), Record: rec}
	if len(rec.Status) > 0 {
		var st dumpdir.Status
		if json.Unmarshal(rec.Status, &st) == nil {
			d.Status = &st
		}
	}
	have := Objects(0)
	if d.Crash != nil {
		have = d.Crash.Objects
	}
	for _, n := range Downloads {
		if have&objectBits[n] == 0 {
			continue
		}
		dl := download{Name: n, URL: "/crash/" + id + "/download/" + n}
		switch n {
		case fleet.DumpObject:
			if rec.Dump != nil {
				dl.Size = rec.Dump.Size
			}
		case fleet.DmesgObject:
			if rec.Dmesg != nil {
				dl.Size = rec.Dmesg.Size
			}
		}
		d.Downloads = append(d.Downloads, dl)
	}
	return d, true
}

func (h *handler) crashPage(w http.ResponseWriter, r *http.Request) {
	d, ok := h.crash(w, r)
	if !ok {
		return
	}
	d.Log = h.logTail(r.Context(), d.ID, 0, "")
	h.render(w, http.StatusOK, "crash", "Crash "+d.ID, d)
}

// logTail reads the end of a crash's kernel log: the last logTail bytes, cut to whole
// lines; when lines > 0, at most lines lines, starting groupLogContext lines before the
// last line holding anchor when there is one.
func (h *handler) logTail(ctx context.Context, id string, lines int, anchor string) *logTailData {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	rc, err := h.ix.st.Get(ctx, fleet.Key(h.ix.opt.Prefix, id, fleet.DmesgObject))
	if errors.Is(err, fleet.ErrNotExist) {
		return nil
	}
	if err != nil {
		h.ix.opt.Logf("serve: crash %s: kernel log: %v", id, err)
		return &logTailData{Err: "the kernel log cannot be read"}
	}
	defer rc.Close()
	t := &tailWriter{max: logTail}
	n, err := io.Copy(t, io.LimitReader(rc, maxLogScan))
	if err != nil {
		h.ix.opt.Logf("serve: crash %s: kernel log: %v", id, err)
		return &logTailData{Err: "the kernel log cannot be read"}
	}
	b := t.bytes()
	cut := n > int64(len(b))
	if cut {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	if lines > 0 {
		b = bytes.TrimRight(b, "\n")
		all := bytes.Split(b, []byte("\n"))
		from := max(len(all)-lines, 0)
		if anchor != "" {
			for i := len(all) - 1; i >= 0; i-- {
				if bytes.Contains(all[i], []byte(anchor)) {
					from = max(i-groupLogContext, 0)
					break
				}
			}
		}
		to := min(from+lines, len(all))
		cut = cut || from > 0 || to < len(all)
		b = bytes.Join(all[from:to], []byte("\n"))
	}
	return &logTailData{Text: strings.ToValidUTF8(string(b), string(utf8.RuneError)), Truncated: cut}
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max  int
	buf  []byte
	full bool
	pos  int
}

func (t *tailWriter) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		t.pos, t.full = 0, true
		return n, nil
	}
	for len(p) > 0 {
		if !t.full {
			k := min(t.max-len(t.buf), len(p))
			t.buf = append(t.buf, p[:k]...)
			p = p[k:]
			if len(t.buf) == t.max {
				t.full = true
			}
			continue
		}
		k := copy(t.buf[t.pos:], p)
		p = p[k:]
		t.pos = (t.pos + k) % t.max
	}
	return n, nil
}

func (t *tailWriter) bytes() []byte {
	if !t.full {
		return t.buf
	}
	return append(append([]byte{}, t.buf[t.pos:]...), t.buf[:t.pos]...)
}

// dmesg sends a crash's kernel log as text, as stored, up to MaxDmesg bytes.
func (h *handler) dmesg(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !fleet.ValidID(id) {
		h.fail(w, r, http.StatusBadRequest, "not a crash id")
		return
	}
	h.stream(w, r, id, fleet.DmesgObject, "text/plain; charset=utf-8", MaxDmesg, false)
}

// download sends one of a crash's Downloads as stored.
func (h *handler) download(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("name")
	if !fleet.ValidID(id) {
		h.fail(w, r, http.StatusBadRequest, "not a crash id")
		return
	}
	ok := false
	for _, n := range Downloads {
		ok = ok || n == name
	}
	if !ok {
		h.fail(w, r, http.StatusNotFound, "only "+strings.Join(Downloads, ", ")+" can be downloaded")
		return
	}
	h.stream(w, r, id, name, "application/octet-stream", -1, true)
}

// stream copies an object of crash id to w with its Content-Length (at most limit
// bytes when limit >= 0). The write deadline moves on while bytes flow.
func (h *handler) stream(w http.ResponseWriter, r *http.Request, id, name, ctype string, limit int64, attachment bool) {
	key := fleet.Key(h.ix.opt.Prefix, id, name)
	ctx := r.Context()
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	oi, err := h.ix.st.Stat(sctx, key)
	cancel()
	if errors.Is(err, fleet.ErrNotExist) {
		h.fail(w, r, http.StatusNotFound, "crash "+id+" has no "+name)
		return
	}
	if err != nil {
		h.ix.opt.Logf("serve: %s: %v", key, err)
		h.fail(w, r, http.StatusBadGateway, "the store cannot say how large "+name+" is (the server's log says why)")
		return
	}
	size := oi.Size
	if limit >= 0 && size > limit {
		size = limit
	}
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Length", strconv.FormatInt(size, 10))
	if attachment {
		hd.Set("Content-Disposition", `attachment; filename="`+id+"-"+name+`"`)
	}
	if r.Method == http.MethodHead {
		return
	}
	rc, err := h.ix.st.Get(ctx, key)
	if err != nil {
		hd.Del("Content-Length")
		hd.Del("Content-Disposition")
		h.ix.opt.Logf("serve: %s: %v", key, err)
		h.fail(w, r, http.StatusBadGateway, "the store cannot send "+name+" (the server's log says why)")
		return
	}
	defer rc.Close()
	rctl := http.NewResponseController(w)
	buf := make([]byte, 1<<20)
	left := size
	for left > 0 {
		rctl.SetWriteDeadline(time.Now().Add(downloadIdle))
		k, err := io.CopyBuffer(w, io.LimitReader(rc, min(left, 16<<20)), buf)
		left -= k
		if err != nil || k == 0 {
			// The object changed or the client left: the length sent no longer
			// holds, so the connection is cut rather than the file ended short.
			if left > 0 {
				h.ix.opt.Logf("serve: %s: sent %d of %d bytes: %v", key, size-left, size, err)
				panic(http.ErrAbortHandler)
			}
			return
		}
	}
}

// --- JSON API -------------------------------------------------------------------

// GroupJSON is a group in the API.
type GroupJSON struct {
	Signature      string    `json:"signature"`
	Count          int       `json:"count"`
	FirstSeen      time.Time `json:"first_seen"`
	LastSeen       time.Time `json:"last_seen"`
	Kind           string    `json:"kind,omitempty"`
	Reason         string    `json:"reason,omitempty"`
	Panic          string    `json:"panic,omitempty"`      // the panic message
	PanicLine      string    `json:"panic_line,omitempty"` // the line panic() printed, else the reason
	Frames         []string  `json:"frames,omitempty"`
	KernelReleases []Count   `json:"kernel_releases"`
	HostCount      int       `json:"host_count"`
	Hosts          []Count   `json:"hosts"` // the hostsShown hosts with the most crashes
	LatestCrash    string    `json:"latest_crash"`
	URL            string    `json:"url"`
}

func groupJSON(g *Group) GroupJSON {
	l := g.Latest
	return GroupJSON{Signature: g.Signature, Count: g.Count, FirstSeen: g.First, LastSeen: g.Last,
		Kind: l.Kind, Reason: l.Reason, Panic: l.Panic, PanicLine: l.PanicLine(), Frames: l.Frames(),
		KernelReleases: g.Releases, HostCount: len(g.Hosts), Hosts: g.Hosts[:min(len(g.Hosts), hostsShown)],
		LatestCrash: l.ID, URL: "/group/" + g.Signature}
}

// CrashJSON is a crash of a group in the API.
type CrashJSON struct {
	ID            string    `json:"id"`
	Time          time.Time `json:"time"`
	Uploaded      time.Time `json:"uploaded,omitzero"`
	Signature     string    `json:"signature"`
	Hostname      string    `json:"hostname,omitempty"`
	MachineID     string    `json:"machine_id,omitempty"`
	KernelRelease string    `json:"kernel_release,omitempty"`
	Kind          string    `json:"kind,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	Panic         string    `json:"panic,omitempty"`
	PanicLine     string    `json:"panic_line,omitempty"`
	DumpState     string    `json:"dump_state,omitempty"`
	DumpSize      int64     `json:"dump_size,omitempty"`
	URL           string    `json:"url"`
}

func crashJSON(c *Crash) CrashJSON {
	return CrashJSON{ID: c.ID, Time: c.Time, Uploaded: c.Uploaded, Signature: c.Signature, Hostname: c.Hostname,
		MachineID: c.MachineID, KernelRelease: c.Release, Kind: c.Kind, Reason: c.Reason, Panic: c.Panic, PanicLine: c.PanicLine(),
		DumpState: c.DumpState, DumpSize: c.DumpSize, URL: "/crash/" + c.ID}
}

type pagingJSON struct {
	Page    int `json:"page"`
	Pages   int `json:"pages"`
	PerPage int `json:"per_page"`
	Total   int `json:"total"`
}

func (p Paging) json() pagingJSON {
	return pagingJSON{Page: p.Page, Pages: p.Pages, PerPage: p.PerPage, Total: p.Total}
}

func (h *handler) apiGroups(w http.ResponseWriter, r *http.Request) {
	d := h.groups(r)
	st := h.ix.Stats()
	out := struct {
		Store   string      `json:"store"`
		Crashes int         `json:"crashes"`
		Skipped int         `json:"skipped"`
		Polled  time.Time   `json:"polled,omitzero"`
		Paging  pagingJSON  `json:"paging"`
		Groups  []GroupJSON `json:"groups"`
	}{Store: StoreName(h.ix.st), Crashes: st.Crashes, Skipped: st.Skipped, Polled: st.LastPoll, Paging: d.Paging.json(),
		Groups: make([]GroupJSON, 0, len(d.Groups))}
	for _, g := range d.Groups {
		out.Groups = append(out.Groups, groupJSON(g))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) apiGroup(w http.ResponseWriter, r *http.Request) {
	d, ok := h.group(w, r)
	if !ok {
		return
	}
	out := struct {
		Group   GroupJSON   `json:"group"`
		Paging  pagingJSON  `json:"paging"`
		Crashes []CrashJSON `json:"crashes"`
	}{Group: groupJSON(d.Group), Paging: d.Paging.json(), Crashes: make([]CrashJSON, 0, len(d.Crashes))}
	for _, c := range d.Crashes {
		out.Crashes = append(out.Crashes, crashJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) apiCrash(w http.ResponseWriter, r *http.Request) {
	d, ok := h.crash(w, r)
	if !ok {
		return
	}
	out := struct {
		Record    *fleet.Record `json:"record"`
		Signature string        `json:"group,omitempty"`
		Downloads []download    `json:"downloads"`
		Dmesg     string        `json:"dmesg_url,omitempty"`
	}{Record: d.Record, Downloads: d.Downloads}
	if out.Downloads == nil {
		out.Downloads = []download{}
	}
	if d.Crash != nil {
		out.Signature = d.Crash.Signature
		if d.Crash.Objects&HasDmesg != 0 {
			out.Dmesg = "/crash/" + d.ID + "/dmesg"
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encoding the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
