package service

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// EnsureSSHKey makes the ssh target's private key at path when it is missing (kind
// "ed25519" or "rsa", 4096 bits; no passphrase: the capture kernel has nobody to
// type one), mode 0600 in a directory made 0700, with the public key beside it as
// path.pub. An existing key is kept and checked. It returns the public key in
// authorized_keys form and whether it made the key.
func EnsureSSHKey(path, kind string) (pub []byte, created bool, err error) {
	if data, err := os.ReadFile(path); err == nil {
		if err := checkPrivateKey(path); err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		signer, err := ssh.ParsePrivateKey(data)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return ssh.MarshalAuthorizedKey(signer.PublicKey()), false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	var priv any
	switch kind {
	case "", "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, false, err
		}
		priv = k
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 4096)
		if err != nil {
			return nil, false, err
		}
		priv = k
	default:
		return nil, false, fmt.Errorf("key type %q: want ed25519 or rsa", kind)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "gokdump capture kernel")
	if err != nil {
		return nil, false, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, false, err
	}
	pub = ssh.MarshalAuthorizedKey(signer.PublicKey())
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	_, err = f.Write(pem.EncodeToMemory(blk))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.WriteFile(path+".pub", pub, 0o644)
	}
	if err != nil {
		os.Remove(path)
		return nil, false, err
	}
	return pub, true, nil
}
