package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/lab/plan"
	"github.com/gokdump/gokdump/vmcore"
	"golang.org/x/crypto/ssh"
)

// Network lab: the guest has one virtio NIC on QEMU's user network with restrict=on;
// its only way out is guestfwd rules from 10.0.2.100:PORT to servers this test starts
// on 127.0.0.1 (Net). The first kernel takes 10.0.2.15/24 with the host's ip(8)
// (Setup), arms with "gokdump start" (which records the route, the NIC by MAC, its
// driver and the server's host key), crashes; the capture kernel's gokdump brings the
// NIC up by netlink and saves to the real server.

// netTools are the host programs these tests run: the servers and ip(8) for the guest.
var netTools = map[string]string{QEMU: "qemu-system-x86", "/usr/sbin/sshd": "openssh-server",
	"/sbin/ip": "iproute2", "/usr/bin/ganesha.nfsd": "nfs-ganesha", "/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so": "nfs-ganesha-vfs"}

// freePort returns a port on 127.0.0.1 free a moment ago, for sshd or ganesha.
func freePort(t *testing.T) int {
	p, err := testenv.FreePorts(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p[0]
}

// waitPort waits (bounded) until something accepts on 127.0.0.1:port.
func waitPort(t *testing.T, port int, what string) {
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never listened on 127.0.0.1:%d", what, port)
}

// sshServer is Debian's OpenSSH sshd started by the test on 127.0.0.1.
type sshServer struct {
	port    int
	hostKey string // authorized_keys form
	userKey []byte // PEM
	dir     string // its files; dumps go to dir/crash
}

func edKey(t *testing.T) (priv []byte, pub string) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	blk, err := ssh.MarshalPrivateKey(k, "")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ssh.NewSignerFromKey(k)
	return pem.EncodeToMemory(blk), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

// startSSHD runs /usr/sbin/sshd with its own host key, user key, authorized_keys and
// sshd_config in a temporary directory, listening on 127.0.0.1 only; sftp false
// leaves the Subsystem line out; path is the PATH of sessions ("" : sshd's).
func startSSHD(t *testing.T, sftp bool, path string) *sshServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "gokdump-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o700)
	s := &sshServer{port: freePort(t), dir: dir}
	hostPriv, hostPub := edKey(t)
	s.hostKey = hostPub
	var userPub string
	s.userKey, userPub = edKey(t)
	write := func(name, data string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("host_ed25519", string(hostPriv), 0o600)
	write("authorized_keys", userPub+"\n", 0o600)
	conf := []string{
		fmt.Sprintf("Port %d", s.port), "ListenAddress 127.0.0.1", "HostKey " + dir + "/host_ed25519",
		"AuthorizedKeysFile " + dir + "/authorized_keys", "PidFile " + dir + "/sshd.pid",
		"UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password", "PasswordAuthentication no",
		"KbdInteractiveAuthentication no", "LogLevel VERBOSE",
	}
	if sftp {
		conf = append(conf, "Subsystem sftp internal-sftp")
	}
	if path != "" {
		conf = append(conf, "SetEnv PATH="+path)
	}
	write("sshd_config", strings.Join(conf, "\n")+"\n", 0o600)
	os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation directory
	if out, err := exec.Command("/usr/sbin/sshd", "-t", "-f", dir+"/sshd_config").CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v\n%s", err, out)
	}
	log, _ := os.Create(filepath.Join(dir, "sshd.log"))
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", dir+"/sshd_config")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
		if t.Failed() {
			data, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
			t.Logf("sshd log:\n%s", data)
		}
	})
	waitPort(t, s.port, "sshd")
	return s
}

// netCase is one network crash.
type netCase struct {
	name     string
	conf     string // kdump.conf (target, path, ...)
	files    []GuestFile
	forwards []Forward
	// modules are put into the guest's module tree (and loaded in the first kernel)
	// besides virtio_net: what "gokdump start" will want for the capture image.
	modules []string
	// armFails: "gokdump start" is expected to refuse; runNet returns the run
	// without failing the test on the guest's error.
	armFails bool
}

// runNet crashes a 6.1 guest whose dump goes over the network.
func runNet(t *testing.T, c netCase) *serviceRun {
	t.Helper()
	b := labBinaries(t)
	k := testenv.KernelPackage(t, testenv.Kernel61)
	dir := runDir(t, "gokdump-lab-net-")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	res, err := Crash(ctx, Config{
		// 4-level paging: libkdumpfile (checkServerVmcore) cannot read 5-level dumps.
		Kernel: k, Binaries: b, Dir: dir, CPU: "qemu64", KASLR: true, MemoryMiB: 768,
		Modules:   append([]string{"virtio_net"}, c.modules...),
		HostFiles: []string{"/sbin/ip"},
		Setup: []plan.Command{
			plan.Cmd("/sbin/ip", "link", "set", "eth0", "up"),
			plan.Cmd("/sbin/ip", "addr", "add", NetGuest+"/24", "dev", "eth0"),
			plan.Cmd("/sbin/ip", "addr", "show"),
		},
		Net:     &Net{Forwards: c.forwards},
		Service: &Service{KdumpConf: c.conf, Files: c.files},
		Timeout: 15 * time.Minute,
	})
	r := &serviceRun{res: res}
	if res != nil {
		t.Logf("%s: VM ran %s; console %s", c.name, res.Elapsed.Round(time.Second), res.ConsoleLog)
		if con, err := os.ReadFile(res.ConsoleLog); err == nil {
			r.con = string(con)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("console tail:\n%s", ConsoleTail(res.ConsoleLog, 80))
			}
		})
	}
	if err != nil && !(c.armFails && strings.Contains(err.Error(), "arming: gokdump start")) {
		t.Fatal(err)
	}
	if c.armFails && err == nil {
		t.Fatal("gokdump start armed")
	}
	return r
}

// serverDump returns the one dump directory under base on the server and checks the
// modes (0700, files 0600).
func serverDump(t *testing.T, base string) string {
	t.Helper()
	ents, err := os.ReadDir(base)
	if err != nil || len(ents) != 1 {
		t.Fatalf("%s holds %v (%v), want one dump directory", base, ents, err)
	}
	dir := filepath.Join(base, ents[0].Name())
	if host, _, ok := dumpdir.ParseDirName(ents[0].Name()); !ok || host != plan.ServiceHostname {
		t.Errorf("dump directory %s", ents[0].Name())
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: mode %v, want 0700", dir, fi.Mode().Perm())
	}
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		if fi, _ := f.Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f.Name(), fi.Mode().Perm())
		}
	}
	return dir
}

// checkServerVmcore opens the dump on the server with vmcore.Open, gokdump info and
// libkdumpfile.
func checkServerVmcore(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, dumpdir.DumpFile)
	f, err := vmcore.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Format != vmcore.FormatKdump || f.Incomplete() || f.Kdump.DumpLevel() != 31 {
		t.Errorf("dump: %s incomplete %v level %d", f.Format, f.Incomplete(), f.Kdump.DumpLevel())
	}
	f.Close()
	out, err := exec.Command(guestGokdump(t), "info", p).CombinedOutput()
	if err != nil || !strings.Contains(string(out), sysrqPanic) {
		t.Errorf("gokdump info %s: %v\n%s", p, err, out)
	}
	// libkdumpfile reads a spread of the dumped pages as our reader does.
	pfns := ""
	d := openDump(t, p)
	for pfn, n := uint64(0), 0; pfn < d.Kdump.MaxMapnr && n < 200; pfn += 97 {
		if ok, err := d.PageDumped(pfn); err == nil && ok {
			pfns += fmt.Sprintln(pfn)
			n++
		}
	}
	tmp := t.TempDir()
	os.WriteFile(filepath.Join(tmp, "pfns"), []byte(pfns), 0o600)
	py := needLibkdumpfile(t)
	out = run(t, py, "-c", libkdumpfileRead, p, filepath.Join(tmp, "pfns"), filepath.Join(tmp, "pages"))
	if !strings.HasPrefix(string(out), "diskdump 6.") {
		t.Errorf("libkdumpfile on %s: %s", p, out)
	}
	got, _ := os.ReadFile(filepath.Join(tmp, "pages"))
	page := make([]byte, 4096)
	for i, l := range strings.Fields(pfns) {
		var pfn uint64
		fmt.Sscan(l, &pfn)
		if _, err := d.ReadPhys(page, pfn*4096); err != nil {
			t.Fatal(err)
		}
		if i*4096+4096 > len(got) || string(got[i*4096:i*4096+4096]) != string(page) {
			t.Fatalf("libkdumpfile's pfn %#x differs", pfn)
		}
	}
	checkCrashOpens(t, p)
}

// checkCrashOpens has the crash utility open the server's dump with the 6.1 kernel's
// debug vmlinux (its -dbg package, fetched once into the cache) and checks sys, log, bt,
// ps and kmem -i as TestCrashUtility does: a dump that arrived over the network is one
// people can debug.
func checkCrashOpens(t *testing.T, dump string) {
	t.Helper()
	crashBin := needCrash(t)
	k := testenv.KernelPackage(t, testenv.Kernel61)
	out := runCrash(t, crashBin, debugVmlinux(t, k), dump)
	if out == nil {
		return // runCrash reported why
	}
	checkCrashOutput(t, "crash on the server's "+filepath.Base(dump), k.Release, out)
	if !t.Failed() {
		t.Logf("crash (%s) opened %s: sys, log, bt through sysrq_handle_crash, ps, kmem -i", crashVersion(crashBin), dump)
	}
}

func sshConf(s *sshServer, extra string) (string, []GuestFile) {
	conf := "ssh root@" + NetServer + "\nsshkey /root/.ssh/kdump_id_rsa\npath " + s.dir + "/crash\ncore_collector makedumpfile -l -d 31\nfinal_action poweroff\nfailure_action poweroff\n" + extra
	files := []GuestFile{
		{Path: "/root/.ssh/kdump_id_rsa", Mode: 0o600, Data: s.userKey},
		{Path: "/root/.ssh/known_hosts", Mode: 0o644, Data: []byte(NetServer + " " + s.hostKey + "\n")},
	}
	return conf, files
}

// TestLabNetSSH: a crash saved over SFTP to Debian's OpenSSH is an ordinary
// kdump-compressed vmcore on the server, and keep_dumps there removes only this
// machine's old dumps (seedOldDumps).
func TestLabNetSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	testenv.NeedPackages(t, netTools)
	s := startSSHD(t, true, "")
	conf, files := sshConf(s, "keep_dumps 2\n")
	files = append(files, labMachineID)
	base := filepath.Join(s.dir, "crash")
	old := seedOldDumps(t, base)
	r := runNet(t, netCase{name: "ssh-sftp", conf: conf, files: files, forwards: []Forward{{22, s.port}}})
	r.wantConsole(t, "GOKDUMP-LAB armed", "gokdump: bringing up the network", "network: "+NetMAC+" is eth0 here",
		"keep_dumps 2: removed "+old.oldest+" on the server", "saving to "+s.dir+"/crash/", "gokdump: saved ", "gokdump: action: poweroff")
	dir := old.check(t, base)
	wantDir(t, dir, dumpdir.DumpFile, dumpdir.DmesgFile, dumpdir.StatusFile)
	checkServerVmcore(t, dir)
	if st := readStatus(t, dir); st.Result != dumpdir.Complete || !strings.HasPrefix(st.Target, "ssh root@"+NetServer) {
		t.Errorf("status %+v", st)
	}
}

// labMachineID is the network guests' /etc/machine-id: start records it, and keep_dumps
// on a server many machines share removes only dumps that carry it.
var labMachineID = GuestFile{Path: "/etc/machine-id", Mode: 0o444, Data: []byte(labMachineIDValue + "\n")}

const labMachineIDValue = "0b5e7c1a9d2f4e8b8c3a6f1d2e4b7a90"

// oldDumps are the dump directories seedOldDumps left on a server.
type oldDumps struct{ oldest, older, clone string }

// seedOldDumps puts on the server, before the crash, two old dumps of the guest (its
// host name, labMachineID in their status files) and one of a clone of it (the same
// host name, another machine-id): with keep_dumps 2 the capture must remove the older
// of its own and nothing else.
func seedOldDumps(t *testing.T, base string) oldDumps {
	t.Helper()
	if err := os.MkdirAll(base, 0o700); err != nil {
		t.Fatal(err)
	}
	seed := func(when string, id string) string {
		start, err := time.Parse(time.DateOnly, when)
		if err != nil {
			t.Fatal(err)
		}
		dir, err := dumpdir.Create(base, plan.ServiceHostname, start)
		if err != nil {
			t.Fatal(err)
		}
		st := &dumpdir.Status{Version: dumpdir.StatusVersion, Result: dumpdir.Complete, Start: start, End: start.Add(time.Minute),
			Host: plan.ServiceHostname, MachineID: id, Dump: dumpdir.DumpFile}
		if err := dumpdir.WriteStatus(dir, st, false); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dumpdir.DumpFile), []byte("an old dump"), 0o600); err != nil {
			t.Fatal(err)
		}
		return filepath.Base(dir)
	}
	return oldDumps{oldest: seed("2020-01-01", labMachineIDValue), older: seed("2020-02-01", labMachineIDValue),
		clone: seed("2019-01-01", "ffffffffffffffffffffffffffffffff")}
}

// check checks what keep_dumps 2 left under base, takes the old dumps away and returns
// the new dump's directory (serverDump), whose status must carry the machine-id and
// name the removed dump.
func (o oldDumps) check(t *testing.T, base string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(base, o.oldest)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("keep_dumps 2: this machine's oldest dump %s is still there (%v)", o.oldest, err)
	}
	for _, kept := range []string{o.older, o.clone} {
		if _, err := os.Stat(filepath.Join(base, kept, dumpdir.DumpFile)); err != nil {
			t.Errorf("keep_dumps 2 removed %s: %v", kept, err)
		}
		os.RemoveAll(filepath.Join(base, kept))
	}
	dir := serverDump(t, base)
	if st, err := dumpdir.ReadStatus(dir); err != nil || st.MachineID != labMachineIDValue || strings.Join(st.Pruned, " ") != o.oldest {
		t.Errorf("status: %+v %v, want machine-id %s and pruned %s", st, err, labMachineIDValue, o.oldest)
	}
	return dir
}

func wantDir(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	want := append([]string(nil), names...)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}

// TestLabNetSSHNoSFTP: a server without the SFTP subsystem gets the flattened stream
// through cat; with gokdump on the server's PATH it is rebuilt there into vmcore.
// keep_dumps lists and removes this machine's old dumps with the server's ls and rm.
func TestLabNetSSHNoSFTP(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	testenv.NeedPackages(t, netTools)
	bin := t.TempDir()
	if err := os.Symlink(guestGokdump(t), filepath.Join(bin, "gokdump")); err != nil {
		t.Fatal(err)
	}
	os.Chmod(bin, 0o755)
	s := startSSHD(t, false, bin+":/usr/bin:/bin")
	conf, files := sshConf(s, "keep_dumps 2\n")
	files = append(files, labMachineID)
	base := filepath.Join(s.dir, "crash")
	old := seedOldDumps(t, base) // listed and removed through the server's ls and rm
	r := runNet(t, netCase{name: "ssh-no-sftp", conf: conf, files: files, forwards: []Forward{{22, s.port}}})
	r.wantConsole(t, "GOKDUMP-LAB armed", "the server has no SFTP: streaming the flattened format", "keep_dumps 2: removed "+old.oldest+" on the server",
		"collecting (flattened)", "gokdump: saved ", "gokdump: action: poweroff")
	dir := old.check(t, base)
	wantDir(t, dir, dumpdir.DumpFile, dumpdir.DmesgFile, dumpdir.StatusFile)
	checkServerVmcore(t, dir)
	st := readStatus(t, dir)
	if st.Result != dumpdir.Complete || st.Dump != dumpdir.DumpFile {
		t.Errorf("status %+v", st)
	}
}

// TestLabNetSSHWrongHostKey: the server's key is not the one known_hosts had at
// start: the capture refuses it, runs failure_action, and writes nothing there.
func TestLabNetSSHWrongHostKey(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	testenv.NeedPackages(t, netTools)
	s := startSSHD(t, true, "")
	conf, files := sshConf(s, "")
	_, other := edKey(t)
	files[1].Data = []byte(NetServer + " " + other + "\n")
	r := runNet(t, netCase{name: "ssh-wrong-host-key", conf: conf, files: files, forwards: []Forward{{22, s.port}}})
	r.wantConsole(t, "GOKDUMP-LAB armed", "gokdump: connecting to the dump target ssh root@"+NetServer,
		"capture failed: target: ssh root@"+NetServer+":22: ssh: handshake failed: target: the ssh server's host key is not the one recorded at start",
		"gokdump: action: poweroff")
	if _, err := os.Stat(filepath.Join(s.dir, "crash")); !os.IsNotExist(err) {
		t.Errorf("something was written on the server: %v", err)
	}
}

// startGanesha runs Debian's NFS-ganesha (VFS backend, NFSv4 only) on 127.0.0.1:port
// exporting a temporary directory as /export; it returns the port and the directory.
func startGanesha(t *testing.T) (int, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "gokdump-ganesha-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	export := filepath.Join(dir, "export")
	os.MkdirAll(export, 0o755)
	port := freePort(t)
	conf := fmt.Sprintf(`NFS_CORE_PARAM { Protocols = 4; Bind_addr = 127.0.0.1; NFS_Port = %d; Enable_RQUOTA = false; Enable_NLM = false; }
NFSV4 { Graceless = true; }
EXPORT { Export_Id = 1; Path = %s; Pseudo = /export; Access_Type = RW; Squash = No_Root_Squash; Protocols = 4; Transports = TCP; SecType = sys; FSAL { Name = VFS; } }
`, port, export)
	if err := os.WriteFile(filepath.Join(dir, "ganesha.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "ganesha.log")
	cmd := exec.Command("/usr/bin/ganesha.nfsd", "-F", "-f", filepath.Join(dir, "ganesha.conf"), "-L", log, "-p", filepath.Join(dir, "ganesha.pid"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(log)
			if len(data) > 8000 {
				data = data[len(data)-8000:]
			}
			t.Logf("ganesha log (tail):\n%s", data)
		}
	})
	waitPort(t, port, "ganesha.nfsd")
	return port, export
}

func nfsConf(extra string) string {
	return "nfs " + NetServer + ":/export\npath /crash\ncore_collector makedumpfile -l -d 31\nfinal_action poweroff\nfailure_action poweroff\n" + extra
}

// TestLabNetNFS: a crash saved with the capture kernel's own NFS client (mount(2),
// NFSv4) to NFS-ganesha on loopback; on this shared export keep_dumps removes only
// this machine's old dumps (seedOldDumps).
func TestLabNetNFS(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	testenv.NeedPackages(t, netTools)
	port, export := startGanesha(t)
	base := filepath.Join(export, "crash")
	old := seedOldDumps(t, base)
	r := runNet(t, netCase{name: "nfs", conf: nfsConf("keep_dumps 2\n"), files: []GuestFile{labMachineID}, forwards: []Forward{{2049, port}}, modules: []string{"nfsv4"}})
	r.wantConsole(t, "GOKDUMP-LAB armed", "gokdump: bringing up the network", "network: eth0 up",
		"mounting the dump target nfs "+NetServer+":/export", "keep_dumps 2: removed "+old.oldest, "gokdump: saved ", "gokdump: action: poweroff")
	dir := old.check(t, base)
	wantDir(t, dir, dumpdir.DumpFile, dumpdir.DmesgFile, dumpdir.StatusFile)
	checkServerVmcore(t, dir)
	if st := readStatus(t, dir); st.Result != dumpdir.Complete {
		t.Errorf("status %+v", st)
	}
}

// TestLabNetNFSDown: the NFS server is down when the machine crashes (its host
// accepts the connection, nfsd never answers: a hung server, the case where mount(2)
// itself blocks): the capture gives up after its bounded wait and takes
// failure_action. (QEMU connects a guestfwd rule's host side when it starts, so a
// port where nothing listens at all cannot be forwarded.)
func TestLabNetNFSDown(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	testenv.NeedPackages(t, netTools)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	r := runNet(t, netCase{name: "nfs-down", conf: nfsConf(""), forwards: []Forward{{2049, port}}, modules: []string{"nfsv4"}})
	r.wantConsole(t, "GOKDUMP-LAB armed", "network: eth0 up", "mounting the dump target nfs "+NetServer+":/export",
		"capture failed: target: gave up after 30s", "gokdump: action: poweroff")
}

// TestLabNetSSHDHCPFlat: kdump_dhcp 1 makes the capture kernel ask QEMU's DHCP
// server for its address (a real DHCPv4 exchange by nclient4); the server has neither
// SFTP nor gokdump, so the flattened stream is kept as vmcore.flat and the status
// says so; gokdump dump -R on the host rebuilds a dump that opens.
func TestLabNetSSHDHCPFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	testenv.NeedPackages(t, netTools)
	s := startSSHD(t, false, "/usr/bin:/bin")
	conf, files := sshConf(s, "kdump_dhcp 1\n")
	r := runNet(t, netCase{name: "ssh-dhcp-flat", conf: conf, files: files, forwards: []Forward{{22, s.port}}})
	r.wantConsole(t, "GOKDUMP-LAB armed", "network: DHCP gave "+NetGuest+"/24 on eth0", "the server has no SFTP",
		"gokdump: saved ", "gokdump: action: poweroff")
	dir := serverDump(t, filepath.Join(s.dir, "crash"))
	wantDir(t, dir, "vmcore.flat", dumpdir.DmesgFile, dumpdir.StatusFile)
	st := readStatus(t, dir)
	if st.Result != dumpdir.Complete || st.Dump != "vmcore.flat" || !strings.Contains(strings.Join(st.Warnings, "\n"), "no gokdump on its PATH") {
		t.Errorf("status %+v", st)
	}
	flat, err := os.Open(filepath.Join(dir, "vmcore.flat"))
	if err != nil {
		t.Fatal(err)
	}
	defer flat.Close()
	cmd := exec.Command(guestGokdump(t), "dump", "-R", filepath.Join(dir, dumpdir.DumpFile))
	cmd.Stdin = flat
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gokdump dump -R: %v\n%s", err, out)
	}
	checkServerVmcore(t, dir)
}

// TestLabNetSSHUnknownHostKey: known_hosts has no key for the server: "gokdump start"
// refuses to arm, naming the kdump.conf line and why (no trust on first use).
func TestLabNetSSHUnknownHostKey(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	testenv.NeedPackages(t, netTools)
	s := startSSHD(t, true, "")
	conf, files := sshConf(s, "")
	files[1].Data = []byte("192.0.2.7 " + s.hostKey + "\n") // another host's entry
	r := runNet(t, netCase{name: "ssh-unknown-host-key", conf: conf, files: files, forwards: []Forward{{22, s.port}}, armFails: true})
	r.wantConsole(t, "/etc/kdump.conf:1: ssh root@"+NetServer+": no known host key for "+NetServer,
		"no trust on first use", "GOKDUMP-LAB error: arming: gokdump start")
	if strings.Contains(r.con, "sysrq") {
		t.Error("the guest crashed though nothing was armed")
	}
	if _, err := os.Stat(filepath.Join(s.dir, "crash")); !os.IsNotExist(err) {
		t.Errorf("something was written on the server: %v", err)
	}
}
