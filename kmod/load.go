package kmod

import "fmt"

// Load loads the module m with the module parameters params ("" for none,
// otherwise as on the modprobe command line: "key=value key2=value2"). A module
// that is already loaded counts as success. Its dependencies must be loaded first
// (Resolve orders them).
func Load(m Module, params string) error { return LoadFile(m.Path, params) }

// LoadAll loads mods in order (as Resolve returns them), stopping at the first
// failure. params maps module names to their parameters; it may be nil.
func LoadAll(mods []Module, params map[string]string) error {
	for _, m := range mods {
		if err := Load(m, params[m.Name]); err != nil {
			return err
		}
	}
	return nil
}

// LoadError is a module the kernel refused.
type LoadError struct {
	Path string
	Err  error  // the errno
	Hint string // what the errno usually means for modules
}

func (e *LoadError) Error() string {
	msg := fmt.Sprintf("kmod: loading %s: %v", e.Path, e.Err)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

func (e *LoadError) Unwrap() error { return e.Err }
