package fleet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// Credentials are an S3 access key pair (and an optional session token), read from
// the file kdump.conf's s3_credentials names. They are never printed: String hides
// the secret.
//
// The file holds key=value lines; blank lines and lines starting with # are skipped:
//
//	access_key=AKIAEXAMPLE
//	secret_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
//	session_token=...          (optional)
//
// Values are taken verbatim after the first "=" (no quoting, surrounding white space
// trimmed). The file must be a regular file of mode 0600 (or stricter) owned by root.
type Credentials struct {
	AccessKey    string
	SecretKey    string `json:"-"`
	SessionToken string `json:"-"`
}

// String and GoString name the access key only: credentials never reach a log, an
// error or a %#v by accident.
func (c Credentials) String() string   { return "access key " + c.AccessKey }
func (c Credentials) GoString() string { return "fleet.Credentials{" + c.String() + "}" }

// MaxCredentialsSize bounds a credentials file: a few lines.
const MaxCredentialsSize = 64 << 10

// ParseCredentials reads a credentials file's text; name is used in errors, which
// name the line but never a value.
func ParseCredentials(r io.Reader, name string) (Credentials, error) {
	var c Credentials
	b, err := io.ReadAll(io.LimitReader(r, MaxCredentialsSize+1))
	if err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > MaxCredentialsSize {
		return c, fmt.Errorf("%s: larger than %d bytes: not a credentials file", name, MaxCredentialsSize)
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 1024), MaxCredentialsSize+1)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok {
			return Credentials{}, fmt.Errorf("%s:%d: want key=value (access_key, secret_key, session_token)", name, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if prev, dup := seen[k]; dup {
			return Credentials{}, fmt.Errorf("%s:%d: %s given twice (first on line %d)", name, line, k, prev)
		}
		if v == "" {
			return Credentials{}, fmt.Errorf("%s:%d: %s: empty value", name, line, k)
		}
		for _, r := range v {
			if r < 0x21 || r > 0x7e {
				return Credentials{}, fmt.Errorf("%s:%d: %s: the value must be printable ASCII without spaces", name, line, k)
			}
		}
		switch k {
		case "access_key":
			c.AccessKey = v
		case "secret_key":
			c.SecretKey = v
		case "session_token":
			c.SessionToken = v
		default:
			return Credentials{}, fmt.Errorf("%s:%d: unknown key %q (want access_key, secret_key, session_token)", name, line, printable(k))
		}
		seen[k] = line
	}
	if err := sc.Err(); err != nil {
		return Credentials{}, fmt.Errorf("%s: %w", name, err)
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		return Credentials{}, fmt.Errorf("%s: needs both access_key= and secret_key= lines", name)
	}
	return c, nil
}

// printable cuts s short and quotes only printable ASCII, for messages.
func printable(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// ErrCredentialsMode is wrapped by LoadCredentials' error for a file that others
// could read or that root does not own.
var ErrCredentialsMode = errors.New("must be a regular file of mode 0600 owned by root")

// LoadCredentials reads the credentials file name, refusing one whose mode lets
// anyone but its owner read or write it or whose owner is not root.
func LoadCredentials(name string) (Credentials, error) {
	return loadCredentials(name, 0)
}

func loadCredentials(name string, owner uint32) (Credentials, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Credentials{}, fmt.Errorf("credentials file %s: %w (it is not a regular file)", name, ErrCredentialsMode)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Credentials{}, fmt.Errorf("credentials file %s: %w (it has mode %04o; chmod 600 %s)", name, ErrCredentialsMode, perm, name)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != owner {
		return Credentials{}, fmt.Errorf("credentials file %s: %w (it is owned by uid %d)", name, ErrCredentialsMode, st.Uid)
	}
	return ParseCredentials(f, name)
}
