package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/serve"
	"github.com/gokdump/gokdump/upload"
)

// The "serve" command is the fleet's crash page (package serve).
func init() {
	register(&command{
		name:    "serve",
		summary: "a web page and JSON API of a fleet's crashes, grouped by signature",
		run:     runServe,
	})
}

// storeFromConfig opens the store kdump.conf's s3_* directives name (prefix is their
// s3_prefix), for "gokdump serve" without --store: the bucket "gokdump upload" fills.
// A variable so tests can stand in for it.
var storeFromConfig = func(ctx context.Context, configFile string) (fleet.Store, string, error) {
	cfg, err := loadConfig(configFile, true)
	if err != nil {
		return nil, "", err
	}
	st, err := upload.StoreOf(cfg)
	if err != nil {
		return nil, "", err
	}
	if st == nil {
		return nil, "", fmt.Errorf("%s names no S3 store (s3_endpoint, s3_bucket): give --store DIR or --config FILE", configFile)
	}
	return st, cfg.S3.Prefix, nil
}

func runServe(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "serve", `[--store DIR | --config FILE] [--listen ADDR] [--poll DURATION]

Serves a read-only web page and JSON API of the crashes in a fleet's crash store: crash
groups by signature (count, first and last seen, kernel releases, hosts, panic line, top
frames), a group's crashes, one crash's report, its kernel log and downloads of its
dump, log and status file. The store is a directory (--store, as "gokdump upload"
writes one) or the S3 bucket of kdump.conf's s3_* directives. The index is built from
the store's meta.json objects at start and kept current by polling, so any number of
servers may serve one store. Pages: /, /group/SIGNATURE, /crash/ID, /crash/ID/dmesg,
/crash/ID/download/NAME; JSON: /api/groups, /api/group/SIGNATURE, /api/crash/ID.
It listens on loopback only unless --allow-remote is given: it has no authentication.`)
	storeDir := fs.String("store", "", "serve the crash store in directory `DIR`")
	file := fs.String("config", "", "the configuration `file` naming the S3 store (default: $GOKDUMP_CONFIG, else /etc/kdump.conf)")
	listen := fs.String("listen", "127.0.0.1:8080", "listen on `ADDR` (host:port)")
	remote := fs.Bool("allow-remote", false, "allow a --listen address that is not loopback (there is no authentication: put a proxy that has one in front)")
	poll := fs.Duration("poll", 30*time.Second, "time between two polls of the store")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(e.stderr, "gokdump serve: "+format+"\n", a...)
		return 1
	}
	if *poll < time.Second {
		return fail("--poll %s: at least 1s", *poll)
	}
	if err := serve.CheckListen(*listen, *remote); err != nil {
		return fail("%v", err)
	}
	var (
		st     fleet.Store
		prefix string
	)
	switch {
	case *storeDir != "":
		fi, err := os.Stat(*storeDir)
		if err != nil {
			return fail("--store: %v", err)
		}
		if !fi.IsDir() {
			return fail("--store %s: not a directory", *storeDir)
		}
		st = fleet.Dir{Root: *storeDir}
	default:
		var err error
		if st, prefix, err = storeFromConfig(ctx, configPath(*file)); err != nil {
			return fail("%v", err)
		}
	}
	logger := log.New(e.stderr, "", log.LstdFlags)
	ix := serve.NewIndex(st, serve.Options{Prefix: prefix, Poll: *poll, Logf: logger.Printf})
	start := time.Now()
	if err := ix.Poll(ctx); err != nil {
		return fail("reading %s: %v", serve.StoreName(st), err)
	}
	s := ix.Stats()
	logger.Printf("gokdump serve: %s: %d crashes in %d groups (%d records skipped), indexed in %s",
		serve.StoreName(st), s.Crashes, s.Groups, s.Skipped, time.Since(start).Round(time.Millisecond))
	go ix.Run(ctx)
	h := serve.Handler(ix)
	if !*remote {
		h = serve.LoopbackHosts(h)
	}
	srv := serve.NewServer(*listen, h)
	err := serve.ListenAndServe(ctx, srv, func(a net.Addr) {
		fmt.Fprintf(e.stdout, "gokdump serve: http://%s/\n", a)
	})
	if err != nil {
		return fail("%v", err)
	}
	return 0
}
