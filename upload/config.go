package upload

import (
	"fmt"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/fleet"
)

// StoreOf returns the S3 store kdump.conf's s3_* directives name, with its
// credentials read (and their file's mode checked); nil when uploads are not
// configured. Errors name the directive's line.
func StoreOf(cfg *config.Config) (*fleet.S3, error) {
	s := cfg.S3
	if !s.Enabled() {
		return nil, nil
	}
	at := func(k string) string { return fmt.Sprintf("%s:%d: %s", cfg.File, cfg.Lines[k], k) }
	cred, err := fleet.LoadCredentials(s.Credentials)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", at("s3_credentials"), err)
	}
	st, err := fleet.NewS3(fleet.S3Config{
		Endpoint:    s.Endpoint,
		AllowHTTP:   s.AllowHTTP,
		Bucket:      s.Bucket,
		Region:      s.Region,
		Credentials: cred,
		CAFile:      s.CAFile,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", at("s3_endpoint"), err)
	}
	return st, nil
}

// OptionsOf fills Options from kdump.conf's s3_* directives.
func OptionsOf(cfg *config.Config, st fleet.Store) Options {
	return Options{Store: st, Prefix: cfg.S3.Prefix, FullDumps: cfg.S3.FullDumps, DeleteUploaded: cfg.S3.DeleteUploaded}
}
