package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/gokdump/gokdump/fleet"
)

// fleetStep is the demo's fleet step: "gokdump upload" sends the saved dump to a local
// crash store, then "gokdump serve" (when this gokdump has it) shows its group; it
// prints the group page's URL.
func fleetStep(ctx context.Context, gokdump, crashDir, storeDir string, port int, show func(...string) error) error {
	storeDir, err := filepath.Abs(storeDir)
	if err != nil {
		return err
	}
	// An empty kdump.conf: the defaults (s3_full_dumps 3), whatever /etc/kdump.conf
	// of this machine says.
	conf := filepath.Join(filepath.Dir(crashDir), "fleet-kdump.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return err
	}
	// A demo run uploads its dump again: forget the marker of an earlier run.
	filepath.Walk(crashDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Name() == "gokdump-uploaded.json" {
			os.Remove(p)
		}
		return nil
	})
	if err := show("upload", "--config", conf, "--dir", crashDir, "--store", storeDir); err != nil {
		return fmt.Errorf("gokdump upload: %w", err)
	}
	// The newest record in the store names the group.
	st := fleet.Dir{Root: storeDir}
	var newest *fleet.Record
	err = st.List(ctx, fleet.CrashesPrefix(""), func(oi fleet.ObjectInfo) error {
		if filepath.Base(oi.Key) != fleet.MetaObject {
			return nil
		}
		r, err := fleet.ReadRecord(ctx, st, oi.Key)
		if err == nil && (newest == nil || r.ID > newest.ID) {
			newest = r
		}
		return nil
	})
	if err != nil {
		return err
	}
	if newest == nil {
		return fmt.Errorf("no crash record in %s after gokdump upload", storeDir)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	base := "http://" + addr
	page := base + "/crash/" + newest.ID
	if sig := newest.Signature(); sig != "" {
		page = base + "/group/" + sig
	}
	serveArgs := []string{"serve", "--store", storeDir, "--listen", addr}
	fmt.Printf("\ncrash %s (signature %q) is in the crash store %s\n", newest.ID, newest.Signature(), storeDir)
	if exec.Command(gokdump, "serve", "--help").Run() != nil {
		fmt.Printf("this gokdump has no serve command yet; with one, run:\n  gokdump %s %s %s %s %s\nand open %s\n",
			serveArgs[0], serveArgs[1], serveArgs[2], serveArgs[3], serveArgs[4], page)
		return nil
	}
	logName := filepath.Join(filepath.Dir(crashDir), "fleet-serve.log")
	logf, err := os.OpenFile(logName, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(gokdump, serveArgs...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the demo
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("gokdump serve: %w", err)
	}
	// Wait (bounded) until it answers.
	cl := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			if resp, err := cl.Get(page); err == nil {
				resp.Body.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gokdump serve did not answer on %s within 20 s (log: %s)", addr, logName)
		}
		time.Sleep(300 * time.Millisecond)
	}
	fmt.Printf("gokdump serve runs in the background (pid %d, log %s; stop it with: kill %d)\n", cmd.Process.Pid, logName, cmd.Process.Pid)
	fmt.Printf("the crash's group: %s\n", page)
	return cmd.Process.Release()
}
