// Package serve is "gokdump serve": a read-only web page and JSON API over a fleet's
// crash store (package fleet): crashes grouped by signature, a group's crashes, one
// crash's report, its kernel log and download links.
//
// It keeps no state of its own. An [Index] is built from the store's meta.json objects
// at start and kept current by polling: each poll lists the store, reads only the
// records whose ETag changed and drops those that disappeared, so any number of
// servers can run over one bucket. The index holds a compact summary per crash and a
// precomputed summary per group, so a page costs a map lookup and a slice of at most
// one page, never a scan of every record; one crash's page reads its meta.json and
// the tail of its kernel log from the store when asked for.
//
// A record that cannot be read (too large, not JSON, a newer schema, an id that does
// not match its key) is skipped and logged once per version of the object, never fatal.
//
// It is not an uploader (package upload writes the store), an S3 client (the store
// is one), or an analysis tool: what it shows was computed by "gokdump info" on the
// machine that crashed.
//
// Usage:
//
//	ix := serve.NewIndex(fleet.Dir{Root: "./crashes"}, serve.Options{})
//	if err := ix.Poll(ctx); err != nil { ... }
//	go ix.Run(ctx)                       // polls every Options.Poll
//	srv := serve.NewServer("127.0.0.1:8080", serve.Handler(ix))
//	err := serve.ListenAndServe(ctx, srv) // until ctx is done, then a graceful shutdown
package serve
