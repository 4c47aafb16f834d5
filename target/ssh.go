package target

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// SSH is a dump target on an ssh server: the dump is written with SFTP's
// random-access writes, so the server gets an ordinary kdump-compressed file; a
// server without the SFTP subsystem gets files through "cat" in a session instead
// (SSHDir.Sequential).
//
// The server's host key must be one of HostKeys (recorded at start from the
// machine's known_hosts): there is no trust on first use, and a mismatch fails at
// once with ErrHostKey, without retries.
type SSH struct {
	Addr    string // the server's address (an IP: there is no resolver)
	Port    int    // 0: 22
	User    string
	KeyFile string // the private key
	// HostKeys are the server's accepted keys in authorized_keys form
	// ("ssh-ed25519 AAAA...").
	HostKeys []string
	// Wait bounds the connection attempts (default 60 s); each dial and handshake
	// is bounded by it too.
	Wait time.Duration
	// Dial connects to addr (default: net.Dialer).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

// ErrHostKey is wrapped when the server's host key is not the recorded one.
var ErrHostKey = errors.New("target: the ssh server's host key is not the one recorded at start")

func (s *SSH) String() string {
	return "ssh " + s.User + "@" + s.hostPort()
}

func (s *SSH) hostPort() string {
	p := s.Port
	if p == 0 {
		p = 22
	}
	return net.JoinHostPort(s.Addr, strconv.Itoa(p))
}

// ParseHostKeys parses authorized_keys-form keys.
func ParseHostKeys(lines []string) ([]ssh.PublicKey, error) {
	var keys []ssh.PublicKey
	for _, l := range lines {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(l))
		if err != nil {
			return nil, fmt.Errorf("host key %.40q: %w", l, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no host key recorded for the server")
	}
	return keys, nil
}

// HostKeyCallback accepts exactly the given keys.
func HostKeyCallback(keys []ssh.PublicKey) ssh.HostKeyCallback {
	return func(host string, _ net.Addr, key ssh.PublicKey) error {
		for _, k := range keys {
			if k.Type() == key.Type() && bytes.Equal(k.Marshal(), key.Marshal()) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s offered %s %s", ErrHostKey, host, key.Type(), ssh.FingerprintSHA256(key))
	}
}

// HostKeyAlgorithms are the algorithms of keys, for the handshake to ask for those
// (else the server may offer a key of another type that is not recorded).
func HostKeyAlgorithms(keys []ssh.PublicKey) []string {
	var algs []string
	seen := map[string]bool{}
	for _, k := range keys {
		t := []string{k.Type()}
		if k.Type() == ssh.KeyAlgoRSA {
			t = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, a := range t {
			if !seen[a] {
				seen[a] = true
				algs = append(algs, a)
			}
		}
	}
	return algs
}

// Connect opens the ssh connection, retrying with back-off until Wait is over
// (the server may be slow to answer while the network comes up); a wrong host
// key or a refused key is not retried.
func (s *SSH) Connect(ctx context.Context) (*SSHDir, error) {
	keys, err := ParseHostKeys(s.HostKeys)
	if err != nil {
		return nil, fmt.Errorf("target: %s: %w", s, err)
	}
	pem, err := os.ReadFile(s.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("target: the ssh key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("target: the ssh key %s: %w", s.KeyFile, err)
	}
	wait := s.Wait
	if wait <= 0 {
		wait = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	dial := s.Dial
	if dial == nil {
		dial = func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	cfg := &ssh.ClientConfig{
		User:              s.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   HostKeyCallback(keys),
		HostKeyAlgorithms: HostKeyAlgorithms(keys),
		Timeout:           wait,
	}
	d := 250 * time.Millisecond
	var last error
	for attempt := 1; ; attempt++ {
		c, err := s.handshake(ctx, dial, cfg)
		if err == nil {
			return newSSHDir(c), nil
		}
		last = err
		if errors.Is(err, ErrHostKey) || strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("target: %s: %w", s, err)
		}
		if ctx.Err() != nil || attempt >= 100 {
			return nil, fmt.Errorf("target: %s: gave up after %s and %d attempts: %w", s, wait, attempt, last)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		d = min(2*d, 5*time.Second)
	}
}

func (s *SSH) handshake(ctx context.Context, dial func(context.Context, string) (net.Conn, error), cfg *ssh.ClientConfig) (*ssh.Client, error) {
	conn, err := dial(ctx, s.hostPort())
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, s.hostPort(), cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// SSHDir is a connection to the server's file system: SFTP when the server has it,
// else fixed commands in sessions.
type SSHDir struct {
	c    *ssh.Client
	sftp *sftp.Client // nil without the SFTP subsystem
	// SFTPErr is why SFTP is not used.
	SFTPErr error
}

func newSSHDir(c *ssh.Client) *SSHDir {
	d := &SSHDir{c: c}
	d.sftp, d.SFTPErr = sftp.NewClient(c, sftp.UseConcurrentWrites(true))
	return d
}

// Sequential says the server takes files only as streams (no SFTP): the dump must
// be the flattened format.
func (d *SSHDir) Sequential() bool { return d.sftp == nil }

// Close ends the connection.
func (d *SSHDir) Close() error {
	if d.sftp != nil {
		d.sftp.Close()
	}
	return d.c.Close()
}

// SafeRemotePath reports whether p may be put into a remote command: an absolute,
// clean path of letters, digits and ._-:/ only (nothing a shell would expand).
func SafeRemotePath(p string) bool {
	if !path.IsAbs(p) || path.Clean(p) != p || len(p) > 1024 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:/", r)) {
			return false
		}
	}
	for _, el := range strings.Split(p, "/") {
		if strings.HasPrefix(el, "-") {
			return false
		}
	}
	return true
}

// run runs a fixed command whose only variable parts are paths checked by
// SafeRemotePath, with stdin from in; it returns the first 64 KiB of its stdout and
// stderr together.
func (d *SSHDir) run(ctx context.Context, in io.Reader, cmd string, paths ...string) ([]byte, error) {
	out := &outputBuffer{limit: maxRemoteOutput}
	if err := d.runTo(ctx, in, out, out, cmd, paths...); err != nil {
		return out.Bytes(), fmt.Errorf("%w: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	return out.Bytes(), nil
}

// output runs a fixed command as run does and returns its stdout, at most limit
// bytes: more is an error, not a cut listing.
func (d *SSHDir) output(ctx context.Context, limit int, cmd string, paths ...string) ([]byte, error) {
	stdout := &outputBuffer{limit: limit + 1}
	stderr := &outputBuffer{limit: 4 << 10}
	if err := d.runTo(ctx, nil, stdout, stderr, cmd, paths...); err != nil {
		return nil, fmt.Errorf("%w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	b := stdout.Bytes()
	if len(b) > limit {
		return nil, fmt.Errorf("remote %q: more than %d bytes of output", cmd, limit)
	}
	return b, nil
}

func (d *SSHDir) runTo(ctx context.Context, in io.Reader, stdout, stderr io.Writer, cmd string, paths ...string) error {
	args := make([]any, len(paths))
	for i, p := range paths {
		if !SafeRemotePath(p) {
			return fmt.Errorf("target: remote path %q has characters a remote command cannot take (letters, digits, ._-:/ only)", p)
		}
		args[i] = p
	}
	line := fmt.Sprintf(cmd, args...)
	sess, err := d.c.NewSession()
	if err != nil {
		return err
	}
	defer sess.Close()
	sess.Stdin = in
	sess.Stdout, sess.Stderr = stdout, stderr
	done := make(chan error, 1)
	go func() { done <- sess.Run(line) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		sess.Close()
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("remote %q: %w", line, err)
	}
	return nil
}

// outputBuffer keeps the first limit bytes a remote command writes (to stdout and
// stderr, which the ssh session copies from two goroutines, when both go to one).
type outputBuffer struct {
	mu    sync.Mutex
	b     []byte
	limit int
}

const maxRemoteOutput = 64 << 10

func (o *outputBuffer) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := o.limit - len(o.b); n > 0 {
		o.b = append(o.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (o *outputBuffer) Bytes() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]byte(nil), o.b...)
}

// MkdirAll makes dir and its parents (new ones mode 0700).
func (d *SSHDir) MkdirAll(ctx context.Context, dir string) error {
	if d.sftp != nil {
		if err := d.sftp.MkdirAll(dir); err != nil {
			return fmt.Errorf("sftp mkdir %s: %w", dir, err)
		}
		return nil
	}
	_, err := d.run(ctx, nil, "umask 077 && mkdir -p -- %s", dir)
	return err
}

// Mkdir makes dir (mode 0700); it fails when dir exists.
func (d *SSHDir) Mkdir(ctx context.Context, dir string) error {
	if d.sftp != nil {
		if err := d.sftp.Mkdir(dir); err != nil {
			return fmt.Errorf("sftp mkdir %s: %w", dir, err)
		}
		return d.sftp.Chmod(dir, 0o700)
	}
	_, err := d.run(ctx, nil, "umask 077 && mkdir -- %s", dir)
	return err
}

// SFTPFile is a file on the server written with SFTP.
type SFTPFile struct{ *sftp.File }

// Sync asks the server to fsync (fsync@openssh.com, OpenSSH 6.5 and later); a
// server without that extension has the data all the same, only not known synced.
func (f SFTPFile) Sync() error {
	if err := f.File.Sync(); err != nil && !unsupported(err) {
		return err
	}
	return nil
}

func unsupported(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported
}

// Create makes a new file, mode 0600, for random-access writes (SFTP only).
func (d *SSHDir) Create(name string) (*SFTPFile, error) {
	if d.sftp == nil {
		return nil, fmt.Errorf("target: the server has no SFTP (%v): files can only be streamed", d.SFTPErr)
	}
	f, err := d.sftp.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, fmt.Errorf("sftp create %s: %w", name, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("sftp chmod %s: %w", name, err)
	}
	return &SFTPFile{f}, nil
}

// WriteFile writes a small file (mode 0600), synced, replacing it.
func (d *SSHDir) WriteFile(ctx context.Context, name string, data []byte) error {
	if d.sftp != nil {
		f, err := d.sftp.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			return fmt.Errorf("sftp create %s: %w", name, err)
		}
		err = f.Chmod(0o600)
		if err == nil {
			_, err = f.Write(data)
		}
		if err == nil {
			err = f.Sync()
			if unsupported(err) {
				err = nil // a server without fsync@openssh.com: written all the same
			}
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sftp write %s: %w", name, err)
		}
		return nil
	}
	_, err := d.run(ctx, bytes.NewReader(data), "umask 077 && cat > %s", name)
	return err
}

// Stream writes a file from r through "cat" in a session (the server without
// SFTP); the file is mode 0600.
func (d *SSHDir) Stream(ctx context.Context, name string, r io.Reader) error {
	_, err := d.run(ctx, r, "umask 077 && cat > %s", name)
	return err
}

// StreamWriter is a file being written through "cat": Close waits for the remote
// command and returns its result.
type StreamWriter struct {
	pw   *io.PipeWriter
	done chan error
}

func (w *StreamWriter) Write(b []byte) (int, error) { return w.pw.Write(b) }

// Close ends the stream and waits for the server to have written it.
func (w *StreamWriter) Close() error {
	w.pw.Close()
	return <-w.done
}

// Abort ends the stream with an error (the remote file is left as far as written).
func (w *StreamWriter) Abort(err error) error {
	w.pw.CloseWithError(err)
	return <-w.done
}

// CreateStream starts streaming into name.
func (d *SSHDir) CreateStream(ctx context.Context, name string) (*StreamWriter, error) {
	if !SafeRemotePath(name) {
		return nil, fmt.Errorf("target: remote path %q has characters a remote command cannot take", name)
	}
	pr, pw := io.Pipe()
	w := &StreamWriter{pw: pw, done: make(chan error, 1)}
	go func() {
		_, err := d.run(ctx, pr, "umask 077 && cat > %s && sync", name)
		pr.CloseWithError(err)
		w.done <- err
	}()
	return w, nil
}

// Rename renames old to new, replacing new (posix-rename@openssh.com).
func (d *SSHDir) Rename(ctx context.Context, old, new string) error {
	if d.sftp != nil {
		if err := d.sftp.PosixRename(old, new); err != nil {
			return fmt.Errorf("sftp rename %s: %w", old, err)
		}
		return nil
	}
	_, err := d.run(ctx, nil, "mv -f -- %s %s", old, new)
	return err
}

// Remove removes a file.
func (d *SSHDir) Remove(ctx context.Context, name string) error {
	if d.sftp != nil {
		return d.sftp.Remove(name)
	}
	_, err := d.run(ctx, nil, "rm -f -- %s", name)
	return err
}

// maxDirNames bounds a listing: a dump directory on a server shared by a fleet may
// hold many dumps, but not more than this.
const maxDirNames = 100000

// maxListing bounds ls(1)'s output when there is no SFTP: maxDirNames names of 64
// bytes.
const maxListing = maxDirNames * 64

// ReadDirNames returns the names of the directories in dir. Without SFTP it runs
// ls(1) with -q, so that a name with a newline cannot pass for two; a listing over
// the bound is an error, not a partial list.
func (d *SSHDir) ReadDirNames(ctx context.Context, dir string) ([]string, error) {
	var names []string
	if d.sftp != nil {
		fis, err := d.sftp.ReadDirContext(ctx, dir)
		if err != nil {
			return nil, fmt.Errorf("sftp readdir %s: %w", dir, err)
		}
		for _, fi := range fis {
			if fi.IsDir() {
				names = append(names, fi.Name())
			}
		}
	} else {
		out, err := d.output(ctx, maxListing, "LC_ALL=C ls -1 -p -q -- %s", dir)
		if err != nil {
			return nil, err
		}
		for _, l := range strings.Split(string(out), "\n") {
			if name, ok := strings.CutSuffix(l, "/"); ok && name != "" {
				names = append(names, name)
			}
		}
	}
	if len(names) > maxDirNames {
		return nil, fmt.Errorf("listing %s: more than %d directories", dir, maxDirNames)
	}
	return names, nil
}

// ReadFile returns the file name, at most limit bytes (more is an error).
func (d *SSHDir) ReadFile(ctx context.Context, name string, limit int) ([]byte, error) {
	if d.sftp == nil {
		return d.output(ctx, limit, "cat -- %s", name)
	}
	f, err := d.sftp.Open(name)
	if err != nil {
		return nil, fmt.Errorf("sftp open %s: %w", name, err)
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("sftp read %s: %w", name, err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes", name, limit)
	}
	return b, nil
}

// maxRemoveEntries bounds the files RemoveAll removes over SFTP: a dump directory
// holds a handful.
const maxRemoveEntries = 1000

// RemoveAll removes dir and what it holds: over SFTP its files (not following links)
// and then dir, stopping when ctx ends; without SFTP with rm -rf.
func (d *SSHDir) RemoveAll(ctx context.Context, dir string) error {
	if d.sftp == nil {
		_, err := d.run(ctx, nil, "rm -rf -- %s", dir)
		return err
	}
	return d.removeAll(ctx, dir, 0)
}

func (d *SSHDir) removeAll(ctx context.Context, dir string, depth int) error {
	if depth > 8 {
		return fmt.Errorf("removing %s: more than 8 levels of directories", dir)
	}
	fis, err := d.sftp.ReadDirContext(ctx, dir)
	if err != nil {
		return fmt.Errorf("sftp readdir %s: %w", dir, err)
	}
	if len(fis) > maxRemoveEntries {
		return fmt.Errorf("removing %s: more than %d entries, not a dump directory", dir, maxRemoveEntries)
	}
	for _, fi := range fis {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := path.Join(dir, fi.Name())
		if fi.IsDir() {
			err = d.removeAll(ctx, p, depth+1)
		} else {
			err = d.sftp.Remove(p)
		}
		if err != nil {
			return fmt.Errorf("sftp remove %s: %w", p, err)
		}
	}
	if err := d.sftp.RemoveDirectory(dir); err != nil {
		return fmt.Errorf("sftp rmdir %s: %w", dir, err)
	}
	return nil
}

// Reassemble turns the flattened stream flat into the kdump-compressed file out on
// the server with "gokdump dump -R" when gokdump is on the server's PATH; ok is
// false (and err nil) when it is not.
func (d *SSHDir) Reassemble(ctx context.Context, flat, out string) (ok bool, err error) {
	if _, err := d.run(ctx, nil, "command -v gokdump"); err != nil {
		return false, nil
	}
	if _, err := d.run(ctx, nil, "umask 077 && gokdump dump -R %s < %s && sync", out, flat); err != nil {
		return false, err
	}
	return true, nil
}
