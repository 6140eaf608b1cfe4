package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// keyFile is a parsed ini file in GLib GKeyFile syntax: "[group]" headers,
// "key=value" lines, '#' comment lines. Later duplicates win.
type keyFile map[string]map[string]string

// parseKeyFile parses GKeyFile syntax. Whitespace around keys and before
// values is dropped; trailing whitespace of values is trimmed by the typed
// getters, as rtpengine trims it from strings.
func parseKeyFile(data []byte) (keyFile, error) {
	kf := keyFile{}
	var group map[string]string
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		t := strings.TrimLeft(line, " \t")
		if t == "" || t[0] == '#' {
			continue
		}
		if t[0] == '[' {
			end := strings.IndexByte(t, ']')
			if end < 0 || strings.TrimSpace(t[end+1:]) != "" || end == 1 {
				return nil, fmt.Errorf("line %d: invalid group header %q", n+1, t)
			}
			name := t[1:end]
			if group = kf[name]; group == nil {
				group = map[string]string{}
				kf[name] = group
			}
			continue
		}
		key, val, ok := strings.Cut(t, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not a key-value pair, group, or comment", n+1, t)
		}
		if group == nil {
			return nil, errors.New("key file does not start with a group")
		}
		key = strings.TrimRight(key, " \t")
		if key == "" {
			return nil, fmt.Errorf("line %d: empty key", n+1)
		}
		group[key] = strings.TrimLeft(val, " \t")
	}
	return kf, nil
}

// unescape handles GKeyFile escapes (\s \n \t \r \\, and \; inside lists).
func unescape(s string, list bool) ([]string, error) {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == ';' && list {
			out = append(out, b.String())
			b.Reset()
			continue
		}
		if ch != '\\' {
			b.WriteByte(ch)
			continue
		}
		i++
		if i >= len(s) {
			return nil, errors.New("value ends with a lone backslash")
		}
		switch s[i] {
		case 's':
			b.WriteByte(' ')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\':
			b.WriteByte('\\')
		case ';', ',':
			if !list {
				b.WriteByte('\\')
			}
			b.WriteByte(s[i])
		default:
			return nil, fmt.Errorf("invalid escape sequence \\%c", s[i])
		}
	}
	if !list || b.Len() > 0 {
		out = append(out, b.String()) // a trailing ';' ends a list without an empty item
	}
	return out, nil
}

// fileValue converts a config-file value as GKeyFile's typed getters do:
// booleans true/false/1/0, integers in base 10, lists split on ';'.
func fileValue(k argKind, raw, key string) (value, error) {
	trimmed := strings.TrimRight(raw, " \t")
	switch k {
	case kindNone:
		switch trimmed {
		case "true", "1":
			return value{b: true}, nil
		case "false", "0":
			return value{b: false}, nil
		}
		return value{}, fmt.Errorf("value %q for key %q cannot be interpreted as a boolean", raw, key)
	case kindInt, kindInt64:
		bits := 32
		if k == kindInt64 {
			bits = 64
		}
		n, err := strconv.ParseInt(trimmed, 10, bits)
		if err != nil {
			return value{}, fmt.Errorf("value %q for key %q cannot be interpreted as a number", raw, key)
		}
		return value{i: n}, nil
	case kindDouble:
		f, err := strconv.ParseFloat(trimmed, 64)
		if err != nil {
			return value{}, fmt.Errorf("value %q for key %q cannot be interpreted as a float number", raw, key)
		}
		return value{f: f}, nil
	case kindStrings:
		list, err := unescape(raw, true)
		if err != nil {
			return value{}, fmt.Errorf("key %q: %w", key, err)
		}
		for i := range list {
			list[i] = strings.TrimRight(list[i], " ")
		}
		return value{list: list}, nil
	}
	s, err := unescape(raw, false)
	if err != nil {
		return value{}, fmt.Errorf("key %q: %w", key, err)
	}
	return value{s: strings.TrimRight(s[0], " ")}, nil
}

// applyFile applies the options found in the given section. Keys rtpengine
// does not know are ignored, as rtpengine ignores them; a missing section
// is an error, as in rtpengine.
func (c *Config) applyFile(data []byte, section string, given map[string]bool) error {
	kf, err := parseKeyFile(data)
	if err != nil {
		return err
	}
	group, ok := kf[section]
	if !ok {
		return fmt.Errorf("key file does not have group %q", section)
	}
	for _, o := range optionTable {
		raw, ok := group[o.long]
		if !ok {
			continue
		}
		switch o.long {
		case optConfigFile, optConfigSection, optVersion:
			continue
		}
		v, err := fileValue(o.kind, raw, o.long)
		if err != nil {
			return err
		}
		given[o.long] = true
		if o.set != nil {
			if err := o.set(c, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// FileValue returns the raw value of key in section of an ini file (for
// tools such as `mediad ctl` that read listen-cli like rtpengine-ctl).
func FileValue(path, section, key string) (string, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false, err
	}
	kf, err := parseKeyFile(data)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", path, err)
	}
	v, ok := kf[section][key]
	return strings.TrimSpace(v), ok, nil
}
