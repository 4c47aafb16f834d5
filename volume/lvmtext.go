package volume

import (
	"fmt"
	"strconv"
)

// lvm2 keeps a volume group's description as text (the "format_text" metadata, the
// syntax of lvm.conf): assignments `key = value` and sections `name { ... }`, where a
// value is a "string", an integer or a [list, of, scalars], and # starts a comment.
// The parser here builds a small tree of that text; VG (metadata.go) reads the tree.

type valueKind int

const (
	kindString valueKind = iota
	kindInt
	kindList
)

type value struct {
	line int
	kind valueKind
	s    string
	n    int64
	list []value
}

func (v value) kindName() string {
	return [...]string{"a string", "an integer", "a list"}[v.kind]
}

type entry struct {
	line int
	name string
	val  *value   // an assignment
	sec  *section // or a section
}

type section struct {
	line    int
	name    string
	entries []entry
}

// maxDepth bounds section nesting; lvm2 writes four levels (vg, logical_volumes, lv,
// segment).
const maxDepth = 16

type textParser struct {
	text []byte
	pos  int
	line int
}

// parseText parses metadata text into its top-level section (named "").
func parseText(text []byte) (*section, error) {
	p := &textParser{text: text, line: 1}
	top := &section{line: 1}
	if err := p.items(top, 0); err != nil {
		return nil, err
	}
	return top, nil
}

// skip moves past blanks and comments.
func (p *textParser) skip() {
	for p.pos < len(p.text) {
		switch c := p.text[p.pos]; {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r':
			p.pos++
		case c == '#':
			for p.pos < len(p.text) && p.text[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '+' || c == '.'
}

func (p *textParser) word() string {
	start := p.pos
	for p.pos < len(p.text) && isWordByte(p.text[p.pos]) {
		p.pos++
	}
	return string(p.text[start:p.pos])
}

// items parses entries into sec until its closing brace (depth > 0) or the end.
func (p *textParser) items(sec *section, depth int) error {
	for {
		p.skip()
		if p.pos == len(p.text) {
			if depth > 0 {
				return lineErrorf(p.line, "end of text inside section %q opened on line %d, expected }", sec.name, sec.line)
			}
			return nil
		}
		if p.text[p.pos] == '}' {
			if depth == 0 {
				return lineErrorf(p.line, "} without a section to close")
			}
			p.pos++
			return nil
		}
		line := p.line
		name := p.word()
		if name == "" {
			return lineErrorf(p.line, "%q, expected a name", p.text[p.pos])
		}
		p.skip()
		if p.pos == len(p.text) {
			return lineErrorf(p.line, "end of text after %q, expected = or {", name)
		}
		switch p.text[p.pos] {
		case '{':
			if depth+1 > maxDepth {
				return lineErrorf(p.line, "sections nested deeper than %d", maxDepth)
			}
			p.pos++
			sub := &section{line: line, name: name}
			if err := p.items(sub, depth+1); err != nil {
				return err
			}
			sec.entries = append(sec.entries, entry{line: line, name: name, sec: sub})
		case '=':
			p.pos++
			v, err := p.value(true)
			if err != nil {
				return err
			}
			sec.entries = append(sec.entries, entry{line: line, name: name, val: &v})
		default:
			return lineErrorf(p.line, "%q after %q, expected = or {", p.text[p.pos], name)
		}
	}
}

func (p *textParser) value(listOK bool) (value, error) {
	p.skip()
	if p.pos == len(p.text) {
		return value{}, lineErrorf(p.line, "end of text, expected a value")
	}
	v := value{line: p.line}
	switch c := p.text[p.pos]; {
	case c == '"':
		p.pos++
		var s []byte
		for {
			if p.pos == len(p.text) {
				return value{}, lineErrorf(v.line, "string not closed, expected \"")
			}
			c := p.text[p.pos]
			p.pos++
			if c == '"' {
				break
			}
			if c == '\n' {
				p.line++
			}
			if c == '\\' && p.pos < len(p.text) {
				c = p.text[p.pos]
				p.pos++
			}
			s = append(s, c)
		}
		v.kind, v.s = kindString, string(s)
	case c == '[' && listOK:
		p.pos++
		v.kind = kindList
		for first := true; ; first = false {
			p.skip()
			if p.pos < len(p.text) && p.text[p.pos] == ']' {
				p.pos++
				break
			}
			if !first {
				if p.pos == len(p.text) || p.text[p.pos] != ',' {
					return value{}, lineErrorf(p.line, "list opened on line %d: expected , or ]", v.line)
				}
				p.pos++
			}
			e, err := p.value(false)
			if err != nil {
				return value{}, err
			}
			v.list = append(v.list, e)
		}
	case c == '-' || c >= '0' && c <= '9':
		w := p.word()
		n, err := strconv.ParseInt(w, 10, 64)
		if err != nil {
			return value{}, lineErrorf(v.line, "%q, expected an integer", w)
		}
		v.kind, v.n = kindInt, n
	default:
		return value{}, lineErrorf(v.line, "%q, expected a string, an integer or a list", c)
	}
	return v, nil
}

// Accessors over a parsed section; each error names the line.

func (s *section) find(name string) *entry {
	for i := range s.entries {
		if s.entries[i].name == name {
			return &s.entries[i]
		}
	}
	return nil
}

func (s *section) sub(name string, required bool) (*section, error) {
	e := s.find(name)
	if e == nil {
		if required {
			return nil, lineErrorf(s.line, "section %q has no %q section", s.name, name)
		}
		return nil, nil
	}
	if e.sec == nil {
		return nil, lineErrorf(e.line, "%q is a value, expected a section", name)
	}
	return e.sec, nil
}

func (s *section) val(name string, kind valueKind, required bool) (*value, error) {
	e := s.find(name)
	if e == nil {
		if required {
			return nil, lineErrorf(s.line, "section %q has no %s", s.name, name)
		}
		return nil, nil
	}
	if e.val == nil {
		return nil, lineErrorf(e.line, "%q is a section, expected a value", name)
	}
	if e.val.kind != kind {
		return nil, lineErrorf(e.line, "%s is %s, expected %s", name, e.val.kindName(), value{kind: kind}.kindName())
	}
	return e.val, nil
}

func (s *section) str(name string, required bool) (string, error) {
	v, err := s.val(name, kindString, required)
	if v == nil {
		return "", err
	}
	return v.s, nil
}

// uint reads a non-negative integer.
func (s *section) uint(name string, required bool) (uint64, error) {
	v, err := s.val(name, kindInt, required)
	if v == nil {
		return 0, err
	}
	if v.n < 0 {
		return 0, lineErrorf(v.line, "%s = %d, expected a non-negative integer", name, v.n)
	}
	return uint64(v.n), nil
}

// strings reads a list of strings (status and flags lists).
func (s *section) strings(name string) ([]string, error) {
	v, err := s.val(name, kindList, false)
	if v == nil {
		return nil, err
	}
	out := make([]string, 0, len(v.list))
	for _, e := range v.list {
		if e.kind != kindString {
			return nil, lineErrorf(e.line, "%s holds %s, expected strings", name, e.kindName())
		}
		out = append(out, e.s)
	}
	return out, nil
}

func (s *section) sections() []*section {
	var out []*section
	for _, e := range s.entries {
		if e.sec != nil {
			out = append(out, e.sec)
		}
	}
	return out
}

func (s *section) String() string { return fmt.Sprintf("%s (line %d)", s.name, s.line) }
