package service

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// DefaultKnownHosts are the files the ssh target's host key is looked up in: root's
// own and the system-wide one, as ssh(1) reads them.
var DefaultKnownHosts = []string{"/root/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts"}

// Bounds on a known_hosts file.
const (
	maxKnownHostsLine  = 64 << 10
	maxKnownHostsLines = 100000
)

// HostKey is a key known for the server, with where it was found.
type HostKey struct {
	Key  string `json:"key"`  // authorized_keys form: "ssh-ed25519 AAAA..."
	From string `json:"from"` // FILE:LINE
}

// ErrNoHostKey is wrapped when no known_hosts file has a key for the server.
var ErrNoHostKey = errors.New("no known host key")

// KnownHostKeys returns the keys the known_hosts files list for the server, reached
// as names (its configured name and the address it resolved to) on port (0: 22).
// Entries are matched as ssh(1) does: plain, [host]:port, hashed (|1|salt|hash),
// comma lists, * and ? wildcards and !negations; @revoked keys are left out of every
// match; @cert-authority lines are skipped (host certificates are not supported). A
// missing file is not an error; none with a key is (ErrNoHostKey).
func KnownHostKeys(files []string, port int, names ...string) ([]HostKey, error) {
	var keys []HostKey
	revoked := map[string]bool{}
	for _, file := range files {
		f, err := os.Open(file)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ks, rv, err := parseKnownHosts(f, file, port, names)
		f.Close()
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
		for k := range rv {
			revoked[k] = true
		}
	}
	var out []HostKey
	seen := map[string]bool{}
	for _, k := range keys {
		if !revoked[k.Key] && !seen[k.Key] {
			seen[k.Key] = true
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w for %s in %s: the capture kernel checks the server's key against the one recorded now (no trust on first use); connect once with ssh as root, or check the key and add it", ErrNoHostKey, strings.Join(hostForms(port, names), ", "), strings.Join(files, ", "))
	}
	return out, nil
}

// parseKnownHosts reads one file: the matching keys and the revoked ones.
func parseKnownHosts(r io.Reader, file string, port int, names []string) ([]HostKey, map[string]bool, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxKnownHostsLine)
	var keys []HostKey
	revoked := map[string]bool{}
	forms := hostForms(port, names)
	for line := 1; sc.Scan(); line++ {
		if line > maxKnownHostsLines {
			return nil, nil, fmt.Errorf("%s: more than %d lines", file, maxKnownHostsLines)
		}
		text := sc.Bytes()
		marker, hosts, key, _, _, err := ssh.ParseKnownHosts(text)
		if err == io.EOF {
			continue // blank or comment
		}
		if err != nil {
			// ssh(1) skips lines it cannot read; so does this (a key type it
			// does not know, say), but never a matching one silently: it has none.
			continue
		}
		k := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
		if marker == "revoked" {
			revoked[k] = true
			continue
		}
		if marker != "" || !matchHosts(hosts, forms) {
			continue
		}
		keys = append(keys, HostKey{Key: k, From: file + ":" + strconv.Itoa(line)})
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	return keys, revoked, nil
}

// hostForms are the names as known_hosts writes them: "name" on port 22, else
// "[name]:port".
func hostForms(port int, names []string) []string {
	var out []string
	for _, n := range names {
		if n == "" {
			continue
		}
		if port == 0 || port == 22 {
			out = append(out, n)
		} else {
			out = append(out, "["+n+"]:"+strconv.Itoa(port))
		}
	}
	return out
}

// matchHosts says whether a known_hosts entry's patterns match one of forms: some
// pattern matches and no negated one does.
func matchHosts(patterns, forms []string) bool {
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		hit := false
		for _, f := range forms {
			if matchHost(p, f) {
				hit = true
				break
			}
		}
		if hit && neg {
			return false
		}
		matched = matched || hit
	}
	return matched
}

func matchHost(pattern, form string) bool {
	if rest, ok := strings.CutPrefix(pattern, "|1|"); ok {
		salt64, hash64, ok := strings.Cut(rest, "|")
		if !ok {
			return false
		}
		salt, err1 := base64.StdEncoding.DecodeString(salt64)
		want, err2 := base64.StdEncoding.DecodeString(hash64)
		if err1 != nil || err2 != nil {
			return false
		}
		m := hmac.New(sha1.New, salt)
		m.Write([]byte(form))
		return hmac.Equal(m.Sum(nil), want)
	}
	if strings.EqualFold(pattern, form) {
		return true
	}
	if !strings.ContainsAny(pattern, "*?") {
		return false
	}
	return globMatch(strings.ToLower(pattern), strings.ToLower(form))
}

// globMatch matches * and ? only (no classes: known_hosts has none, and its
// "[host]:port" brackets are literal).
func globMatch(p, s string) bool {
	if len(p) > 1024 || len(s) > 1024 {
		return false
	}
	// Iterative matching with backtracking to the last star: linear-ish, bounded.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
