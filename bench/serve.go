package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/internal/fleetgen"
	"github.com/gokdump/gokdump/serve"
)

// PageTarget is the bound on a page load of gokdump serve over 100,000
// crash records.
const PageTarget = 200 * time.Millisecond

// ServeConfig is one run of the serve bench.
type ServeConfig struct {
	// Store is filled with Records generated records unless Filled; a fleet.Dir is
	// written directly (WriteDir), any other store (a bucket) through Put.
	Store   fleet.Store
	Prefix  string
	Records int
	Filled  bool // the store already holds the records (of fleetgen.DefaultShape)
	Runs    int  // timed loads of each page, after Warmup untimed ones; the median is reported
	Warmup  int
}

// PageResult is the median load time of one page.
type PageResult struct {
	Name, Path string
	Bytes      int
	Median     time.Duration
	Max        time.Duration
}

// ServeReport is what the serve bench measured.
type ServeReport struct {
	Records, Crashes, Groups, Skipped int
	BiggestGroup                      int
	Fill                              time.Duration // writing the records (0 when Filled)
	Build                             time.Duration // the first poll: listing and reading every record
	Repoll                            time.Duration // a poll with nothing changed
	IndexBytes                        uint64        // live heap the index holds (after GC)
	Pages                             []PageResult
}

// Serve fills the store, builds an index of it, serves it on 127.0.0.1 and loads
// each page Runs times.
func Serve(ctx context.Context, c ServeConfig, log io.Writer) (*ServeReport, error) {
	if c.Runs < 1 {
		c.Runs = 5
	}
	rep := &ServeReport{Records: c.Records}
	if !c.Filled {
		start := time.Now()
		var err error
		if d, ok := c.Store.(fleet.Dir); ok && c.Prefix == "" {
			err = fleetgen.WriteDir(ctx, d.Root, c.Records, fleetgen.DefaultShape)
		} else {
			err = fleetgen.Put(ctx, c.Store, c.Prefix, c.Records, fleetgen.DefaultShape)
		}
		if err != nil {
			return nil, fmt.Errorf("filling %s: %w", c.Store, err)
		}
		rep.Fill = time.Since(start)
		fmt.Fprintf(log, "serve: wrote %d records to %s in %s\n", c.Records, c.Store, rep.Fill.Round(time.Millisecond))
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ix := serve.NewIndex(c.Store, serve.Options{Prefix: c.Prefix, Logf: func(f string, a ...any) { fmt.Fprintf(log, f+"\n", a...) }})
	start := time.Now()
	if err := ix.Poll(ctx); err != nil {
		return nil, err
	}
	rep.Build = time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if after.HeapAlloc > before.HeapAlloc {
		rep.IndexBytes = after.HeapAlloc - before.HeapAlloc
	}
	start = time.Now()
	if err := ix.Poll(ctx); err != nil {
		return nil, err
	}
	rep.Repoll = time.Since(start)
	st := ix.Stats()
	rep.Crashes, rep.Groups, rep.Skipped = st.Crashes, st.Groups, st.Skipped
	fmt.Fprintf(log, "serve: index of %d crashes in %d groups built in %s\n", st.Crashes, st.Groups, rep.Build.Round(time.Millisecond))

	// The pages: the groups page, the biggest group (first and last page), a crash of
	// it, its log, and the API of each.
	groups, _ := ix.Groups(0, 1<<30)
	if len(groups) == 0 {
		return nil, fmt.Errorf("%s: the index is empty", c.Store)
	}
	big := slices.MaxFunc(groups, func(a, b *serve.Group) int { return a.Count - b.Count })
	rep.BiggestGroup = big.Count
	last := (big.Count + serve.CrashesPerPage - 1) / serve.CrashesPerPage
	crash := big.Crashes[len(big.Crashes)/2].ID
	pages := []PageResult{
		{Name: "groups page", Path: "/"},
		{Name: "groups page, last page", Path: fmt.Sprintf("/?page=%d", (len(groups)+serve.GroupsPerPage-1)/serve.GroupsPerPage)},
		{Name: fmt.Sprintf("biggest group (%d crashes)", big.Count), Path: "/group/" + big.Signature},
		{Name: "biggest group, last page", Path: fmt.Sprintf("/group/%s?page=%d", big.Signature, last)},
		{Name: "crash page", Path: "/crash/" + crash},
		{Name: "crash kernel log", Path: "/crash/" + crash + "/dmesg"},
		{Name: "API groups", Path: "/api/groups"},
		{Name: "API biggest group", Path: "/api/group/" + big.Signature},
		{Name: "API crash", Path: "/api/crash/" + crash},
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	srv := serve.NewServer(ln.Addr().String(), serve.Handler(ix))
	done := make(chan error, 1)
	go func() { done <- serve.Serve(sctx, srv, ln) }()
	defer func() { stop(); <-done }()
	client := &http.Client{Timeout: 30 * time.Second}
	base := "http://" + ln.Addr().String()
	for i := range pages {
		p := &pages[i]
		var ts []time.Duration
		for k := range c.Warmup + c.Runs {
			t0 := time.Now()
			n, err := load(ctx, client, base+p.Path)
			d := time.Since(t0)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.Path, err)
			}
			p.Bytes = n
			if k >= c.Warmup {
				ts = append(ts, d)
			}
		}
		slices.Sort(ts)
		p.Median, p.Max = ts[len(ts)/2], ts[len(ts)-1]
	}
	rep.Pages = pages
	return rep, nil
}

func load(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s", resp.Status)
	}
	return int(n), err
}

// WriteServeReport prints the serve bench's table, each page with PASS or MISS
// against PageTarget.
func WriteServeReport(w io.Writer, r *ServeReport, runs, warmup int) error {
	fmt.Fprintf(w, "\ngokdump serve over %d generated crash records (%d groups; the biggest %d crashes; %d skipped)\n",
		r.Crashes, r.Groups, r.BiggestGroup, r.Skipped)
	fmt.Fprintf(w, "method: in-process index and server on 127.0.0.1; each page loaded %d times untimed, then %d times; median and max of the timed loads (whole body read)\n", warmup, runs)
	fmt.Fprintf(w, "index: built in %s (list + read every meta.json), re-poll with nothing changed %s, %.1f MiB of heap (%.0f bytes per crash)\n",
		r.Build.Round(time.Millisecond), r.Repoll.Round(time.Millisecond), float64(r.IndexBytes)/(1<<20), float64(r.IndexBytes)/float64(max(r.Crashes, 1)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "page\tpath\tbytes\tmedian\tmax\ttarget")
	for _, p := range r.Pages {
		verdict := "PASS"
		if p.Median >= PageTarget {
			verdict = "MISS"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s < %s\n", p.Name, p.Path, p.Bytes, ms(p.Median), ms(p.Max), verdict, PageTarget)
	}
	return tw.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// ServeVerdicts counts the pages that met PageTarget and those that did not.
func ServeVerdicts(r *ServeReport) (pass, miss int) {
	for _, p := range r.Pages {
		if p.Median < PageTarget {
			pass++
		} else {
			miss++
		}
	}
	return pass, miss
}

// TempStore is a fresh directory store under dir for the bench, removed by the
// returned function.
func TempStore(dir string) (fleet.Dir, func(), error) {
	d, err := os.MkdirTemp(dir, ".serve-store-")
	if err != nil {
		return fleet.Dir{}, nil, err
	}
	return fleet.Dir{Root: d}, func() { os.RemoveAll(d) }, nil
}
