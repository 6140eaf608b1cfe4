package ngproto

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Dict is a decoded NG dictionary. Values are always one of string, int64,
// []any (of these same kinds) or Dict; the decoders normalise to these.
type Dict map[string]any

// normKey folds the spellings rtpengine treats as one key: case, and
// space/hyphen/underscore separators ("transport protocol",
// "transport-protocol", "transport_protocol").
func normKey(k string) string {
	need := false
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == ' ' || c == '_' || (c >= 'A' && c <= 'Z') {
			need = true
			break
		}
	}
	if !need {
		return k
	}
	b := []byte(k)
	for i, c := range b {
		switch {
		case c == ' ' || c == '_':
			b[i] = '-'
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Get returns the value stored under key or under any alias of it. An exact
// match wins over an alias.
func (d Dict) Get(key string) (any, bool) {
	if d == nil {
		return nil, false
	}
	if v, ok := d[key]; ok {
		return v, true
	}
	for k, v := range d {
		if keyEqual(k, key) {
			return v, true
		}
	}
	return nil, false
}

// keyEqual compares two keys as normKey would, without allocating.
func keyEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if foldKeyByte(a[i]) != foldKeyByte(b[i]) {
			return false
		}
	}
	return true
}

func foldKeyByte(c byte) byte {
	switch {
	case c == ' ' || c == '_':
		return '-'
	case c >= 'A' && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}

// Has reports whether key (or an alias) is present.
func (d Dict) Has(key string) bool {
	_, ok := d.Get(key)
	return ok
}

// Delete removes key and all its aliases.
func (d Dict) Delete(key string) {
	for k := range d {
		if keyEqual(k, key) {
			delete(d, k)
		}
	}
}

// Str returns a string value ("" if absent); integers are formatted.
func (d Dict) Str(key string) string {
	v, _ := d.Get(key)
	return toStr(v)
}

func toStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

// Int returns an integer value or a numeric string's value.
func (d Dict) Int(key string) (int64, bool) {
	v, ok := d.Get(key)
	if !ok {
		return 0, false
	}
	return toInt(v)
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, false
		}
		return i, true
	}
	return 0, false
}

// List returns a list of strings: list elements (integers formatted,
// others skipped), or a plain string split on commas as rtpengine does.
func (d Dict) List(key string) []string {
	v, _ := d.Get(key)
	return toList(v)
}

func toList(v any) []string {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			switch s := e.(type) {
			case string:
				out = append(out, s)
			case int64:
				out = append(out, strconv.FormatInt(s, 10))
			}
		}
		return out
	case string:
		return splitList(x)
	case int64:
		return []string{strconv.FormatInt(x, 10)}
	}
	return nil
}

// splitList splits like rtpengine's call_ng_flags_list: on commas only
// (so "load limit" or "trust address" stay one item), trimming blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Sub returns a nested dictionary or nil.
func (d Dict) Sub(key string) Dict {
	v, _ := d.Get(key)
	if x, ok := v.(Dict); ok {
		return x
	}
	return nil
}

// Clone returns a deep copy of d.
func (d Dict) Clone() Dict {
	if d == nil {
		return nil
	}
	out := make(Dict, len(d))
	for k, v := range d {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case Dict:
		return x.Clone()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}

// OK is the plain success reply.
func OK() Dict { return Dict{"result": "ok"} }

// OKWarning is a success reply carrying a warning (delete of an unknown call).
func OKWarning(warning string) Dict { return Dict{"result": "ok", "warning": warning} }

// ErrorReply is rtpengine's error shape: only result and error-reason.
func ErrorReply(reason string) Dict { return Dict{"result": "error", "error-reason": reason} }

// LoadLimitReply is sent instead of an error when the request carried
// supports:["load limit"] and a load limit was hit.
func LoadLimitReply(message string) Dict {
	d := Dict{"result": "load limit"}
	if message != "" {
		d["message"] = message
	}
	return d
}

// Pong is the reply to ping.
func Pong() Dict { return Dict{"result": "pong"} }

// Result returns the reply's "result" string.
func (d Dict) Result() string { return d.Str("result") }

// ReplyError returns the reason of an error or load-limit reply, or "".
func (d Dict) ReplyError() string {
	switch d.Str("result") {
	case "error":
		return d.Str("error-reason")
	case "load limit":
		if m := d.Str("message"); m != "" {
			return m
		}
		return ReasonLoadLimit
	}
	return ""
}

// Pretty renders d as rtpengine's debug dumps do ("Dump for 'offer'
// ..."): { "key": "value", "n": 1, "list": [ "a", "b" ] }, keys sorted
// (the order bencode gives them).
func (d Dict) Pretty() string {
	var b strings.Builder
	prettyValue(&b, d)
	return b.String()
}

func prettyValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case string:
		b.WriteByte('"')
		b.WriteString(x)
		b.WriteByte('"')
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case []any:
		b.WriteString("[ ")
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			prettyValue(b, e)
		}
		b.WriteString(" ]")
	case Dict:
		b.WriteString("{ ")
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b.WriteString(", ")
			}
			prettyValue(b, k)
			b.WriteString(": ")
			prettyValue(b, x[k])
		}
		b.WriteString(" }")
	default: // not produced by the decoders
		fmt.Fprintf(b, "%v", x)
	}
}
