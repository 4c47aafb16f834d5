// Package sshtest is an ssh server for tests, in process, on 127.0.0.1: public-key
// authentication of one user key, the SFTP subsystem (pkg/sftp's server on the local
// file system) unless turned off, and "exec" requests run by /bin/sh with a PATH of
// the test's choosing. The lab proves the ssh target against Debian's OpenSSH; this
// is for unit tests.
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"net"
	"os/exec"
	"sync"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Server is a running test server.
type Server struct {
	Addr    *net.TCPAddr
	HostKey ssh.PublicKey // the server's
	// UserKey is the private key the server accepts (PEM, OpenSSH format).
	UserKey []byte
	// Execs are the commands run, in order.
	Execs []string

	mu sync.Mutex
	l  net.Listener
	wg sync.WaitGroup
}

// Options change the server.
type Options struct {
	NoSFTP bool   // refuse the sftp subsystem
	Path   string // PATH for exec requests ("/usr/bin:/bin" when empty)
}

// Start starts a server; it stops when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	userPub, userPriv, _ := ed25519.GenerateKey(rand.Reader)
	blk, err := ssh.MarshalPrivateKey(userPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ssh.NewPublicKey(userPub)
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if string(k.Marshal()) == string(want.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(hostSigner)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: l.Addr().(*net.TCPAddr), HostKey: hostSigner.PublicKey(), UserKey: pem.EncodeToMemory(blk), l: l}
	if o.Path == "" {
		o.Path = "/usr/bin:/bin"
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c, cfg, o)
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return s
}

func (s *Server) serve(c net.Conn, cfg *ssh.ServerConfig, o Options) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "no")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.session(ch, creqs, o)
	}
}

func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request, o Options) {
	defer ch.Close()
	for r := range reqs {
		switch r.Type {
		case "subsystem":
			if o.NoSFTP || len(r.Payload) < 4 || string(r.Payload[4:]) != "sftp" {
				r.Reply(false, nil)
				continue
			}
			r.Reply(true, nil)
			srv, err := sftp.NewServer(ch)
			if err == nil {
				srv.Serve()
			}
			return
		case "exec":
			if len(r.Payload) < 4 {
				r.Reply(false, nil)
				continue
			}
			n := binary.BigEndian.Uint32(r.Payload)
			if int(n) > len(r.Payload)-4 {
				r.Reply(false, nil)
				continue
			}
			line := string(r.Payload[4 : 4+n])
			s.mu.Lock()
			s.Execs = append(s.Execs, line)
			s.mu.Unlock()
			r.Reply(true, nil)
			cmd := exec.Command("/bin/sh", "-c", line)
			cmd.Env = []string{"PATH=" + o.Path, "HOME=/"}
			cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
			code := 0
			if err := cmd.Run(); err != nil {
				code = 1
				var ee *exec.ExitError
				if errors.As(err, &ee) && ee.ExitCode() > 0 {
					code = ee.ExitCode()
				}
			}
			ch.CloseWrite()
			ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(code)))
			return
		default:
			r.Reply(false, nil)
		}
	}
}

// Commands returns the exec requests so far.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.Execs...)
}
