package service

import (
	"fmt"
	"os"
	"syscall"

	"github.com/gokdump/gokdump/config"
)

// uploadCredentialsWarning says, for config check and start, what gokdump upload
// will refuse about the s3_credentials file (missing, readable by others, not root's).
// It does not stop arming: the capture does not need the file.
func uploadCredentialsWarning(cfg *config.Config) string {
	name := cfg.S3.Credentials
	if !cfg.S3.Enabled() || name == "" {
		return ""
	}
	at := fmt.Sprintf("%s:%d: s3_credentials", cfg.File, cfg.Lines["s3_credentials"])
	fi, err := os.Lstat(name)
	switch {
	case err != nil:
		return fmt.Sprintf("%s: %v: gokdump upload cannot send dumps until it exists", at, err)
	case !fi.Mode().IsRegular():
		return fmt.Sprintf("%s: %s is not a regular file: gokdump upload will refuse it", at, name)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Sprintf("%s: %s has mode %04o: gokdump upload refuses a credentials file others can read (chmod 600 %s)", at, name, fi.Mode().Perm(), name)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
		return fmt.Sprintf("%s: %s is owned by uid %d: gokdump upload refuses a credentials file root does not own", at, name, st.Uid)
	}
	return ""
}
