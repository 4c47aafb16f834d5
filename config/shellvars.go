package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Debian's /etc/default/kdump-tools and Fedora's /etc/sysconfig/kdump are shell
// fragments that their scripts source. gokdump reads them as data, never through a
// shell: ParseShellVars accepts the subset those files are written in (NAME=value,
// values unquoted, in 'single' or "double" quotes, or pieces of these joined,
// comments) and refuses, with the line and the reason, everything whose meaning a
// shell would compute: $ expansion, `command` and $(command) substitution,
// backslash escapes other than \" \\ \$ \` in double quotes, a leading ~, several
// commands on a line, and values that continue on the next line.

// Assignment is one NAME=value line of a shell-variable file.
type Assignment struct {
	Name, Value string
	Line        int
}

// ShellVars is a parsed shell-variable file: its assignments in file order (a name
// set twice appears twice; Get returns the last, as the shell would).
type ShellVars struct {
	File        string
	Assignments []Assignment
}

// Get returns the last value assigned to name, its line, and whether it is set.
func (v *ShellVars) Get(name string) (value string, line int, ok bool) {
	for i := len(v.Assignments) - 1; i >= 0; i-- {
		if a := v.Assignments[i]; a.Name == name {
			return a.Value, a.Line, true
		}
	}
	return "", 0, false
}

// ParseShellVars reads a shell-variable file from r (name is used in errors). It
// returns every refused line at once, as an ErrorList.
func ParseShellVars(r io.Reader, name string) (*ShellVars, error) {
	out := &ShellVars{File: name}
	p := &parser{name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxLineLen)
	line := 0
	for sc.Scan() {
		line++
		if line > maxLines {
			p.errorf(line, "more than %d lines: not a configuration file", maxLines)
			break
		}
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		if !isText(text) {
			p.errorf(line, "contains control characters or invalid UTF-8")
			continue
		}
		a, err := parseAssignment(text)
		if err != nil {
			p.errorf(line, "%v", err)
			continue
		}
		a.Line = line
		out.Assignments = append(out.Assignments, a)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			p.errorf(line+1, "line longer than %d bytes", maxLineLen)
		} else {
			p.errs = append(p.errs, &Error{File: name, Msg: err.Error()})
		}
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return out, nil
}

// parseAssignment reads one line, white space trimmed: [export ]NAME=value [# comment].
func parseAssignment(text string) (Assignment, error) {
	if rest, ok := strings.CutPrefix(text, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
		text = strings.TrimLeft(rest, " \t")
	}
	eq := strings.IndexByte(text, '=')
	if eq <= 0 || !isShellName(text[:eq]) {
		word, _, _ := strings.Cut(text, " ")
		return Assignment{}, fmt.Errorf("%q is not a NAME=value assignment: only variable assignments are read (the file is never run by a shell)", word)
	}
	a := Assignment{Name: text[:eq]}
	v, err := shellWord(text[eq+1:])
	if err != nil {
		return Assignment{}, fmt.Errorf("%s: %v", a.Name, err)
	}
	a.Value = v
	return a, nil
}

// isShellName reports whether s is a shell variable name.
func isShellName(s string) bool {
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// shellWord reads the value of an assignment: one shell word, then nothing but
// white space and a comment.
func shellWord(s string) (string, error) {
	var b strings.Builder
	i := 0
	if strings.HasPrefix(s, "~") {
		return "", errors.New("a leading ~ is expanded by the shell: write the path in full")
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			rest := strings.TrimLeft(s[i:], " \t")
			if rest != "" && rest[0] != '#' {
				return "", fmt.Errorf("unquoted white space before %q: quote the value (a shell would run %q as a command)", rest, rest)
			}
			return b.String(), nil
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return "", errors.New("no closing ' on this line (values continued on the next line are not read)")
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 2
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				switch s[j] {
				case '$':
					return "", errors.New("$ in a double-quoted value: variable expansion and command substitution are not done (the file is read as data); write the value itself")
				case '`':
					return "", errors.New("` in a double-quoted value: command substitution is not done (the file is read as data)")
				case '\\':
					if j+1 < len(s) && strings.IndexByte("\"\\$`", s[j+1]) >= 0 {
						j++
					} else if j+1 >= len(s) {
						return "", errors.New("a backslash at the end of the line continues the value on the next line: not supported")
					}
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return "", errors.New("no closing \" on this line (values continued on the next line are not read)")
			}
			i = j + 1
		case c == '$':
			return "", errors.New("$: variable expansion and command substitution are not done (the file is read as data); write the value itself")
		case c == '`':
			return "", errors.New("`: command substitution is not done (the file is read as data)")
		case c == '\\':
			return "", errors.New("backslash escapes outside quotes are not read: quote the value")
		case strings.IndexByte(";&|<>(){}", c) >= 0:
			return "", fmt.Errorf("%q: only one plain assignment a line is read (no command lists, redirections or subshells)", string(c))
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}
