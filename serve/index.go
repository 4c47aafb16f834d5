package serve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/gokdump/gokdump/fleet"
)

// Options configure an Index.
type Options struct {
	// Prefix is the store's key prefix (kdump.conf's s3_prefix; "" for a directory).
	Prefix string
	// Poll is the time between two polls of Run (default 30 s).
	Poll time.Duration
	// Logf receives what was skipped and why (default log.Printf).
	Logf func(format string, args ...any)
	// MaxRecords bounds the index (default 2,000,000): crashes past it are left out
	// and the poll says so.
	MaxRecords int
	// Readers is how many meta.json objects are read at once (default 8).
	Readers int
}

func (o *Options) setDefaults() {
	if o.Poll <= 0 {
		o.Poll = 30 * time.Second
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	if o.MaxRecords <= 0 {
		o.MaxRecords = 2_000_000
	}
	if o.Readers <= 0 {
		o.Readers = 8
	}
}

// Objects is the set of a crash's objects found in the store by the last poll.
type Objects uint8

const (
	HasMeta Objects = 1 << iota
	HasDmesg
	HasDump
	HasStatus
)

// objectBits maps the object names of one crash to their bit; only these may be
// downloaded.
var objectBits = map[string]Objects{
	fleet.MetaObject:   HasMeta,
	fleet.DmesgObject:  HasDmesg,
	fleet.DumpObject:   HasDump,
	fleet.StatusObject: HasStatus,
}

// NoSignature is the group key of crashes whose record has no usable signature (the
// log held no crash report, or the dump could not be read).
const NoSignature = "none"

// Crash is what the index keeps of one record: enough for the lists, not the whole
// report (a crash's page reads its meta.json). Its strings are interned: a fleet's
// crashes repeat the same reasons, releases and hosts. A Crash is never changed once
// it is in the index (a changed record gets a new one), so pages may hold it unlocked.
type Crash struct {
	ID         string
	Time       time.Time // the crash time (the dump's, else the upload's, else the id's)
	Uploaded   time.Time
	Signature  string // the group key: the record's signature, or NoSignature
	Kind       string
	Reason     string
	Panic      string
	frames     string // the signature frames, "\n"-joined (one interned string)
	Comm       string
	CPU, PID   int // -1 when unknown
	Hostname   string
	MachineID  string
	Product    string
	Release    string
	DumpState  string
	DumpSize   int64
	Incomplete bool
	Objects    Objects

	etag string // of meta.json
}

// Frames are the crash's signature frames, innermost first.
func (c *Crash) Frames() []string {
	if c.frames == "" {
		return nil
	}
	return strings.Split(c.frames, "\n")
}

// PanicLine is the line a person recognises the crash by: the panic line when the
// crash went through panic(), else the report's first line.
func (c *Crash) PanicLine() string { return panicLine(c.Panic, c.Reason) }

// ShowReason says whether the report's first line says more than the panic line (an
// oops that ended in "Fatal exception").
func (c *Crash) ShowReason() bool { return c.Reason != "" && c.Reason != c.PanicLine() }

// panicPrefix is what panic() prints before its message (kernel/panic.c).
const panicPrefix = "Kernel panic - not syncing: "

// panicLine is the line panic() printed for the message msg (crashinfo keeps the
// message alone), or reason when there was no panic.
func panicLine(msg, reason string) string {
	if msg != "" {
		return panicPrefix + msg
	}
	return reason
}

// Count is one value of a group's facet (a kernel release, a host) and how many of
// the group's crashes have it.
type Count struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// Group is the precomputed summary of one signature's crashes. A Group is never
// changed once published: a poll that touches its crashes builds a new one.
type Group struct {
	Signature string
	Count     int
	First     time.Time
	Last      time.Time
	Releases  []Count  // by count, then name
	Hosts     []Count  // by machine: hostname (machine-id prefix when they differ); by count
	Latest    *Crash   // the newest crash: its reason, panic line and frames stand for the group
	Crashes   []*Crash // newest first
}

// Stats says how the last poll went.
type Stats struct {
	Crashes  int
	Groups   int
	Skipped  int // records not in the index (unreadable, too large, past MaxRecords)
	LastPoll time.Time
	PollTook time.Duration
	LastErr  string // the last poll's error ("" when it succeeded)
}

// Index is the in-memory view of a store's crashes.
type Index struct {
	st  fleet.Store
	opt Options

	pollMu sync.Mutex        // one poll at a time; guards the fields below it
	skip   map[string]string // id -> ETag of a meta.json that could not be read
	// members is each group's crashes by id: what a group's summary is built from.
	members map[string]map[string]*Crash

	mu      sync.RWMutex // guards the published view below
	crashes map[string]*Crash
	groups  map[string]*Group
	order   []*Group // by last crash, newest first
	stats   Stats
}

// NewIndex returns an empty index of st; Poll fills it.
func NewIndex(st fleet.Store, opt Options) *Index {
	opt.setDefaults()
	return &Index{st: st, opt: opt, skip: map[string]string{}, members: map[string]map[string]*Crash{},
		crashes: map[string]*Crash{}, groups: map[string]*Group{}}
}

// Store is the store the index reads.
func (ix *Index) Store() fleet.Store { return ix.st }

// Prefix is the store's key prefix.
func (ix *Index) Prefix() string { return ix.opt.Prefix }

// Run polls every Options.Poll until ctx is done, and never spends more than a fifth
// of its time polling: after a poll that took d it waits at least 4d (a directory of
// 100,000 crashes takes seconds to list). A failed poll is logged and the index keeps
// what it had.
// pollTimeout is the least time one poll of Run may take (10 polls' worth if more).
const pollTimeout = 5 * time.Minute

func (ix *Index) Run(ctx context.Context) {
	t := time.NewTimer(ix.opt.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			start := time.Now()
			// A store that stops answering mid-listing must not stop the index for
			// good: each poll has a deadline, and the next one starts afresh.
			pctx, cancel := context.WithTimeout(ctx, max(10*ix.opt.Poll, pollTimeout))
			if err := ix.Poll(pctx); err != nil && ctx.Err() == nil {
				ix.opt.Logf("serve: poll of %s: %v", ix.st, err)
			}
			cancel()
			t.Reset(max(ix.opt.Poll, 4*time.Since(start)))
		}
	}
}

// listed is one crash's objects as one listing found them.
type listed struct {
	objects Objects
	etag    string // of meta.json
	size    int64
}

// Poll brings the index up to date with the store: it lists the crashes' objects,
// reads the meta.json objects that are new or changed (by ETag), and drops crashes
// whose meta.json is gone. A listing that fails changes nothing.
func (ix *Index) Poll(ctx context.Context) error {
	ix.pollMu.Lock()
	defer ix.pollMu.Unlock()
	start := time.Now()
	err := ix.poll(ctx)
	ix.mu.Lock()
	ix.stats.LastPoll = start
	ix.stats.PollTook = time.Since(start)
	ix.stats.LastErr = ""
	if err != nil {
		ix.stats.LastErr = err.Error()
	}
	ix.mu.Unlock()
	return err
}

func (ix *Index) poll(ctx context.Context) error {
	prefix := fleet.CrashesPrefix(ix.opt.Prefix)
	found := map[string]*listed{}
	over := 0
	err := ix.st.List(ctx, prefix, func(o fleet.ObjectInfo) error {
		id, name, ok := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		bit := objectBits[name]
		if !ok || bit == 0 || !fleet.ValidID(id) {
			return nil // not an object of the layout
		}
		l := found[id]
		if l == nil {
			if len(found) >= ix.opt.MaxRecords {
				if bit == HasMeta {
					over++ // one crash left out
				}
				return nil
			}
			l = &listed{}
			found[id] = l
		}
		l.objects |= bit
		if bit == HasMeta {
			l.etag, l.size = o.ETag, o.Size
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing %s: %w", prefix, err)
	}
	if over > 0 {
		ix.opt.Logf("serve: %s: more than %d crashes; %d further crashes left out", ix.st, ix.opt.MaxRecords, over)
	}

	// What to read: meta.json objects the index does not have in this version.
	ix.mu.RLock()
	var toRead []string
	for id, l := range found {
		if l.objects&HasMeta == 0 {
			continue
		}
		if c := ix.crashes[id]; c != nil && c.etag == l.etag {
			continue
		}
		if e, ok := ix.skip[id]; ok && e == l.etag {
			continue
		}
		toRead = append(toRead, id)
	}
	ix.mu.RUnlock()
	slices.Sort(toRead)
	read := ix.readAll(ctx, toRead, found)
	if err := ctx.Err(); err != nil {
		return err
	}

	// Apply: new and changed records, objects that appeared or went, crashes gone.
	ix.mu.Lock()
	defer ix.mu.Unlock()
	touched := map[string]bool{}
	put := func(c *Crash) {
		if old := ix.crashes[c.ID]; old != nil {
			delete(ix.members[old.Signature], c.ID)
			touched[old.Signature] = true
		}
		ix.crashes[c.ID] = c
		m := ix.members[c.Signature]
		if m == nil {
			m = map[string]*Crash{}
			ix.members[c.Signature] = m
		}
		m[c.ID] = c
		touched[c.Signature] = true
	}
	for _, c := range read {
		if c != nil {
			delete(ix.skip, c.ID)
			put(c)
		}
	}
	for id, c := range ix.crashes {
		l := found[id]
		switch {
		case l == nil || l.objects&HasMeta == 0:
			delete(ix.crashes, id)
			delete(ix.members[c.Signature], id)
			touched[c.Signature] = true
		case l.objects != c.Objects:
			n := *c
			n.Objects = l.objects
			put(&n)
		}
	}
	for id := range ix.skip {
		if l := found[id]; l == nil || l.objects&HasMeta == 0 {
			delete(ix.skip, id)
		}
	}
	for sig := range touched {
		m := ix.members[sig]
		if len(m) == 0 {
			delete(ix.members, sig)
			delete(ix.groups, sig)
			continue
		}
		ix.groups[sig] = summarize(sig, m)
	}
	if len(touched) > 0 {
		ix.order = ix.order[:0]
		for _, g := range ix.groups {
			ix.order = append(ix.order, g)
		}
		slices.SortFunc(ix.order, func(a, b *Group) int {
			if c := b.Last.Compare(a.Last); c != 0 {
				return c
			}
			return strings.Compare(a.Signature, b.Signature)
		})
	}
	ix.stats.Crashes = len(ix.crashes)
	ix.stats.Groups = len(ix.groups)
	ix.stats.Skipped = len(ix.skip) + over
	return nil
}

// readAll reads the records of ids with Options.Readers readers; a record that cannot
// be read is logged and remembered (by its ETag) in ix.skip, so it is not read again
// until it changes.
func (ix *Index) readAll(ctx context.Context, ids []string, found map[string]*listed) []*Crash {
	out := make([]*Crash, len(ids))
	reasons := make([]error, len(ids))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(ix.opt.Readers, len(ids)) {
		wg.Go(func() {
			for i := range next {
				out[i], reasons[i] = ix.read(ctx, ids[i], found[ids[i]])
			}
		})
	}
feed:
	for i := range ids {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for i, err := range reasons {
		if err != nil && ctx.Err() == nil {
			ix.skip[ids[i]] = found[ids[i]].etag
			ix.opt.Logf("serve: skipping crash %s: %v", ids[i], err)
		}
	}
	return out
}

// errTooLarge is the reason a meta.json over fleet.MaxRecordSize is not read.
var errTooLarge = errors.New("larger than fleet.MaxRecordSize: not a crash record")

func (ix *Index) read(ctx context.Context, id string, l *listed) (*Crash, error) {
	key := fleet.Key(ix.opt.Prefix, id, fleet.MetaObject)
	if l.size > fleet.MaxRecordSize {
		return nil, fmt.Errorf("%s: %d bytes, %w", key, l.size, errTooLarge)
	}
	r, err := fleet.ReadRecord(ctx, ix.st, key)
	if err != nil {
		return nil, err
	}
	if r.ID != id {
		return nil, fmt.Errorf("%s: the record's id is %q", key, r.ID)
	}
	c := summary(r)
	c.etag = l.etag
	c.Objects = l.objects
	return c, nil
}

// in interns s: a fleet's records repeat a few reasons, releases and hosts many times.
func in(s string) string { return unique.Make(s).Value() }

// validSignature is what a group key may be: it goes into URLs.
func validSignature(s string) bool { return fleet.ValidID(s) }

// summary is the index's view of one record.
func summary(r *fleet.Record) *Crash {
	c := &Crash{ID: r.ID, Uploaded: r.Uploaded, CPU: -1, PID: -1,
		Hostname: in(r.Host.Hostname), MachineID: in(r.Host.MachineID), Product: in(r.Host.Product),
		Release: in(r.Host.KernelRelease)}
	c.Signature = r.Signature()
	if !validSignature(c.Signature) || c.Signature == NoSignature {
		c.Signature = NoSignature
	}
	c.Signature = in(c.Signature)
	if i := r.Info; i != nil {
		if i.Kernel.Release != "" {
			c.Release = in(i.Kernel.Release)
		}
		if c.Hostname == "" {
			c.Hostname = in(i.Kernel.Nodename)
		}
		c.Incomplete = i.Incomplete
		if t, err := time.Parse(time.RFC3339, i.CrashTime); err == nil {
			c.Time = t.UTC()
		}
		if k := i.Crash; k != nil {
			c.Kind, c.Reason, c.Panic, c.Comm = in(k.Kind), in(k.Reason), in(k.Panic), in(k.Comm)
			c.frames = in(strings.Join(k.SignatureFrames, "\n"))
			if k.CPU != nil {
				c.CPU = *k.CPU
			}
			if k.PID != nil {
				c.PID = *k.PID
			}
		}
	}
	if c.Time.IsZero() {
		c.Time = r.Uploaded.UTC()
	}
	if c.Time.IsZero() {
		if t, err := time.Parse("20060102T150405Z", strings.SplitN(r.ID, "-", 2)[0]); err == nil {
			c.Time = t
		}
	}
	if d := r.Dump; d != nil {
		c.DumpState, c.DumpSize = in(d.State), d.Size
	}
	return c
}

// summarize builds the summary of the group sig from its crashes.
func summarize(sig string, m map[string]*Crash) *Group {
	g := &Group{Signature: sig, Count: len(m), Crashes: make([]*Crash, 0, len(m))}
	releases := map[string]int{}
	hosts := map[string]int{}
	for _, c := range m {
		g.Crashes = append(g.Crashes, c)
		releases[c.Release]++
		hosts[hostLabel(c)]++
	}
	slices.SortFunc(g.Crashes, func(a, b *Crash) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	g.Latest = g.Crashes[0]
	g.Last = g.Latest.Time
	g.First = g.Crashes[len(g.Crashes)-1].Time
	g.Releases = counts(releases)
	g.Hosts = counts(hosts)
	return g
}

// hostLabel names the machine of c: its hostname, else its machine-id.
func hostLabel(c *Crash) string {
	if c.Hostname != "" {
		return c.Hostname
	}
	if c.MachineID != "" {
		return c.MachineID
	}
	return "(unknown)"
}

func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for v, n := range m {
		out = append(out, Count{v, n})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out
}

// Groups returns the groups from offset off (at most n), newest last crash first, and
// how many groups there are.
func (ix *Index) Groups(off, n int) ([]*Group, int) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return window(ix.order, off, n), len(ix.order)
}

// Group returns the group of a signature.
func (ix *Index) Group(sig string) *Group {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.groups[sig]
}

// Crash returns the crash with the given id.
func (ix *Index) Crash(id string) *Crash {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.crashes[id]
}

// Stats says how many crashes and groups the index holds and how the last poll went.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.stats
}

// window is s[off:off+n] clamped to s. The slice it returns is a copy's view only
// in that it is never appended to.
func window[T any](s []T, off, n int) []T {
	if off < 0 {
		off = 0
	}
	if off > len(s) {
		off = len(s)
	}
	end := min(off+n, len(s))
	return slices.Clone(s[off:end])
}
