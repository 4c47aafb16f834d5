package service

import "github.com/gokdump/gokdump/internal/progdeps"

// programFiles returns the files the programs need in the capture environment (see
// progdeps.Files), looking shared libraries up in s.LibDirs.
func (s *System) programFiles(programs []string) ([]string, error) {
	return progdeps.Files(programs, s.LibDirs)
}
