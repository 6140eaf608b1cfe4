package sdp

import (
	"strconv"
	"strings"
)

// MediaLine renders the m= value.
func (m *Media) MediaLine() string {
	var b strings.Builder
	b.WriteString(m.Type)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(m.Port))
	if m.NumPorts > 0 {
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(m.NumPorts))
	}
	b.WriteByte(' ')
	b.WriteString(m.Proto)
	for _, f := range m.Formats {
		b.WriteByte(' ')
		b.WriteString(f)
	}
	return b.String()
}

// Marshal renders the session with CRLF line endings: v=, o=, s=, the
// session lines in order, then every media section (m= and its lines).
func (s *Session) Marshal() []byte {
	n := 64
	for _, l := range s.Lines {
		n += len(l.Value) + 4
	}
	for _, m := range s.Media {
		n += 64
		for _, l := range m.Lines {
			n += len(l.Value) + 4
		}
	}
	b := make([]byte, 0, n)
	add := func(t byte, v string) {
		b = append(b, t, '=')
		b = append(b, v...)
		b = append(b, '\r', '\n')
	}
	v := s.Version
	if v == "" {
		v = "0"
	}
	add('v', v)
	if s.HasOrigin {
		add('o', s.Origin.String())
	}
	if s.HasName {
		add('s', s.Name)
	}
	for _, l := range s.Lines {
		add(l.Type, l.Value)
	}
	for _, m := range s.Media {
		add('m', m.MediaLine())
		for _, l := range m.Lines {
			add(l.Type, l.Value)
		}
	}
	return b
}

// String is Marshal as a string.
func (s *Session) String() string { return string(s.Marshal()) }
