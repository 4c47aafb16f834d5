package lab

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"html"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/internal/s3test"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/lab/plan"
	"github.com/gokdump/gokdump/vmcore"
)

// TestLabUpload: a 6.1 guest armed with the service crashes and its capture saves to
// an ext4 disk; the next boot of the same machine (the same disk, a network whose
// only way out is a guestfwd to a real S3 server on the host's loopback) runs
// "gokdump upload". The host then reads the crash's record back from the bucket
// (fleet.ReadRecord) and opens the uploaded dump with gokdump's reader.
func TestLabUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests and a real S3 server (minutes); not in -short")
	}
	testenv.NeedPackages(t, map[string]string{QEMU: "qemu-system-x86", "/sbin/ip": "iproute2"})
	srv := s3test.Start(t)
	const cred = "/etc/gokdump/s3.cred"
	conf := "ext4 LABEL=" + dumpLabel + "\npath /var/crash\ncore_collector makedumpfile -l -d 31\nfinal_action poweroff\nfailure_action poweroff\n" +
		"s3_endpoint http://" + NetServer + ":8333\ns3_allow_http yes\ns3_bucket " + s3test.Bucket + "\ns3_prefix lab\n" +
		"s3_credentials " + cred + "\n"
	credFile := GuestFile{Path: cred, Mode: 0o600, Data: []byte("access_key=" + s3test.AccessKey + "\nsecret_key=" + s3test.SecretKey + "\n")}
	r := runService(t, serviceCase{name: "upload", kernel: testenv.Kernel61, diskMiB: 512, conf: conf, files: []GuestFile{credFile}})
	r.wantConsole(t, "GOKDUMP-LAB armed", "gokdump: saved ")
	if strings.Contains(r.con, s3test.SecretKey) {
		t.Error("the console shows the secret key")
	}

	// The next boot: upload.
	b := labBinaries(t)
	k := testenv.KernelPackage(t, testenv.Kernel61)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	boot, err := Boot(ctx, Config{
		Kernel: k, Binaries: b, Dir: runDir(t, "gokdump-lab-upload-boot-"), CPU: "qemu64", MemoryMiB: 768,
		Modules:    []string{"ext4", "crc32c_generic", "virtio_net"},
		HostFiles:  []string{"/sbin/ip"},
		ExtraDisks: []Disk{{Path: r.disk, Serial: "gokdump-dumps"}},
		Setup: []plan.Command{
			plan.Cmd("/sbin/ip", "link", "set", "eth0", "up"),
			plan.Cmd("/sbin/ip", "addr", "add", NetGuest+"/24", "dev", "eth0"),
			plan.Cmd(plan.BuiltinMount, plan.DiskRef("gokdump-dumps"), "/mnt/dumps", "ext4"),
		},
		AfterArm: []plan.Command{
			{Argv: []string{plan.GokdumpPath, "upload", "--config", plan.KdumpConfPath, "--dir", "/mnt/dumps/var/crash"}, TimeoutSeconds: 900},
			plan.Cmd(plan.GokdumpPath, "upload", "--config", plan.KdumpConfPath, "--dir", "/mnt/dumps/var/crash"),
			plan.Cmd(plan.BuiltinUmount, "/mnt/dumps"),
		},
		Net:     &Net{Forwards: []Forward{{GuestPort: 8333, HostPort: srv.Port()}}},
		Service: &Service{KdumpConf: conf, Files: []GuestFile{credFile}},
		Timeout: 20 * time.Minute,
	})
	if boot != nil {
		t.Logf("upload boot: VM ran %s; console %s", boot.Elapsed.Round(time.Second), boot.ConsoleLog)
	}
	if err != nil {
		if boot != nil {
			t.Logf("console tail:\n%s", ConsoleTail(boot.ConsoleLog, 80))
		}
		t.Fatal(err)
	}
	con, _ := os.ReadFile(boot.ConsoleLog)
	br := &serviceRun{res: boot, con: string(con)}
	br.wantConsole(t, "GOKDUMP-LAB armed", "gokdump upload: 1 uploaded to s3://"+s3test.Bucket, "(1 whole, 0 sampled)",
		"gokdump upload: 0 uploaded", "1 already there", "GOKDUMP-LAB done")
	if strings.Contains(string(con), s3test.SecretKey) {
		t.Error("the console shows the secret key")
	}
	if t.Failed() {
		t.Logf("console tail:\n%s", ConsoleTail(boot.ConsoleLog, 60))
	}

	// The host reads the bucket.
	st, err := fleet.NewS3(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	rec := bucketRecord(t, ctx, st, "lab")
	if rec.Dump == nil || rec.Dump.State != fleet.DumpComplete || rec.Host.KernelRelease != k.Release || rec.Host.BuildID == "" ||
		rec.Host.Hostname != plan.ServiceHostname || rec.Signature() == "" || rec.Dmesg == nil || len(rec.Status) == 0 {
		t.Errorf("record %+v", rec)
	}
	if rec.Info == nil || rec.Info.Crash == nil || !strings.Contains(rec.Info.Crash.Panic, "sysrq") {
		t.Errorf("record's report: %+v", rec.Info)
	}
	checkUploadedDump(t, ctx, st, rec)
	checkServedGroup(t, srv, "lab", rec)
}

// checkServedGroup runs the real "gokdump serve" over the bucket (kdump.conf's s3_*
// directives, as on a fleet's server) and checks the crash's group page lists it with
// its panic line: the end of the way from a crash to the fleet's page.
func checkServedGroup(t *testing.T, srv *s3test.Server, prefix string, rec *fleet.Record) {
	t.Helper()
	dir := t.TempDir()
	cred := filepath.Join(dir, "s3.cred")
	if err := os.WriteFile(cred, []byte("access_key="+s3test.AccessKey+"\nsecret_key="+s3test.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "kdump.conf")
	os.WriteFile(conf, []byte("s3_endpoint "+srv.Endpoint()+"\ns3_bucket "+s3test.Bucket+"\ns3_prefix "+prefix+"\ns3_credentials "+cred+"\n"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, guestGokdump(t), "serve", "--config", conf, "--listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// Its first line names the address: "gokdump serve: http://127.0.0.1:PORT/".
	line, err := bufio.NewReader(out).ReadString('\n')
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "gokdump serve: ")
	if err != nil || !ok || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("gokdump serve said %q (%v); stderr:\n%s", line, err, stderr.String())
	}
	resp, err := http.Get(base + "group/" + rec.Signature())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	page := html.UnescapeString(string(body))
	if resp.StatusCode != 200 || !strings.Contains(page, rec.ID) || !strings.Contains(page, "sysrq triggered crash") {
		t.Errorf("GET %sgroup/%s: %s; the page lacks the crash %s or its panic line:\n%s", base, rec.Signature(), resp.Status, rec.ID, page)
	} else {
		t.Logf("gokdump serve over the bucket lists crash %s under %sgroup/%s", rec.ID, base, rec.Signature())
	}
}

// TestLabS3Capture: a guest without a dump disk, armed with s3_capture yes, crashes;
// its capture kernel brings the network up as start recorded it and writes the crash
// straight to a real S3 server on the host's loopback (through a guestfwd): the
// record, the kernel log, the status and the dump, which opens with gokdump's reader.
func TestLabS3Capture(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a QEMU guest and a real S3 server (minutes); not in -short")
	}
	testenv.NeedPackages(t, map[string]string{QEMU: "qemu-system-x86", "/sbin/ip": "iproute2"})
	srv := s3test.Start(t)
	const cred = "/etc/gokdump/s3.cred"
	conf := "path /var/crash\ncore_collector makedumpfile -l -d 31\nfinal_action poweroff\nfailure_action poweroff\n" +
		"s3_endpoint http://" + NetServer + ":8333\ns3_allow_http yes\ns3_bucket " + s3test.Bucket + "\ns3_prefix diskless\n" +
		"s3_credentials " + cred + "\ns3_capture yes\n"
	credFile := GuestFile{Path: cred, Mode: 0o600, Data: []byte("access_key=" + s3test.AccessKey + "\nsecret_key=" + s3test.SecretKey + "\n")}
	r := runNet(t, netCase{name: "s3-capture", conf: conf, files: []GuestFile{credFile}, forwards: []Forward{{8333, srv.Port()}}})
	r.wantConsole(t, "GOKDUMP-LAB armed", "gokdump: bringing up the network", "uploading the crash to s3://"+s3test.Bucket,
		"collecting (flattened, to the bucket)", "gokdump: saved diskless/crashes/", "gokdump: action: poweroff")
	if strings.Contains(r.con, s3test.SecretKey) {
		t.Error("the console shows the secret key")
	}
	ctx := context.Background()
	st, err := fleet.NewS3(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	rec := bucketRecord(t, ctx, st, "diskless")
	k := testenv.KernelPackage(t, testenv.Kernel61)
	if rec.Dump == nil || rec.Dump.State != fleet.DumpComplete || rec.Host.KernelRelease != k.Release || rec.Signature() == "" ||
		rec.Dmesg == nil || len(rec.Status) == 0 || !strings.Contains(string(rec.Status), `"result": "complete"`) && !strings.Contains(string(rec.Status), `"result":"complete"`) {
		t.Errorf("record %+v status %s", rec, rec.Status)
	}
	if _, err := st.Stat(ctx, fleet.Key("diskless", rec.ID, fleet.StatusObject)); err != nil {
		t.Errorf("status object: %v", err)
	}
	checkUploadedDump(t, ctx, st, rec)
}

// bucketRecord reads the one crash record under prefix in st.
func bucketRecord(t *testing.T, ctx context.Context, st fleet.Store, prefix string) *fleet.Record {
	t.Helper()
	var metas []string
	st.List(ctx, fleet.CrashesPrefix(prefix), func(oi fleet.ObjectInfo) error {
		if strings.HasSuffix(oi.Key, "/"+fleet.MetaObject) {
			metas = append(metas, oi.Key)
		}
		return nil
	})
	if len(metas) != 1 {
		t.Fatalf("records in the bucket: %v, want one", metas)
	}
	rec, err := fleet.ReadRecord(ctx, st, metas[0])
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// checkUploadedDump downloads rec's dump: its size and SHA-256 must be the record's,
// and it must open with gokdump's reader as a kdump-compressed dump of the sysrq
// panic with the record's signature.
func checkUploadedDump(t *testing.T, ctx context.Context, st fleet.Store, rec *fleet.Record) {
	t.Helper()
	rc, err := st.Get(ctx, rec.Dump.Key)
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "vmcore")
	f, _ := os.Create(local)
	n, err := io.Copy(f, rc)
	rc.Close()
	f.Close()
	if err != nil || n != rec.Dump.Size {
		t.Fatalf("download: %d bytes (%v), record says %d", n, err, rec.Dump.Size)
	}
	if got := sha256Of(t, local); got != rec.Dump.SHA256 {
		t.Errorf("downloaded dump sha256 %s, record says %s", got, rec.Dump.SHA256)
	}
	vf, err := vmcore.Open(local)
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	info, err := crashinfo.Describe(vf, crashinfo.Options{})
	if err != nil || vf.Format != vmcore.FormatKdump || info.Crash == nil || info.Crash.Signature != rec.Signature() ||
		!strings.Contains(info.Crash.Panic, "sysrq") {
		t.Errorf("the uploaded dump: %v, format %s, %+v", err, vf.Format, info.Crash)
	}
}

func sha256Of(t *testing.T, name string) string {
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}
