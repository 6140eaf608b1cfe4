package ngproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	bencode "github.com/jackpal/bencode-go"
)

// Encoding is the body encoding of an NG message.
type Encoding uint8

const (
	Bencode Encoding = iota
	JSON
)

func (e Encoding) String() string {
	if e == JSON {
		return "json"
	}
	return "bencode"
}

// Limits applied to untrusted input before anything is allocated for it.
const (
	// MaxMessageSize is rtpengine's UDP receive buffer (MAX_UDP_LENGTH).
	MaxMessageSize = 0xffff
	// MaxDepth bounds nesting of dictionaries and lists.
	MaxDepth = 64
)

// Message is one cookie-framed NG datagram.
type Message struct {
	Cookie   string
	Body     Dict
	Encoding Encoding
}

// DecodeMessage splits "<cookie> <body>" and decodes the body. A datagram
// without a cookie yields ErrNoCookie (rtpengine drops it silently). Other
// errors carry rtpengine's error-reason (see Reason) and the returned
// Message still holds the cookie and the encoding the error reply must use.
func DecodeMessage(b []byte) (Message, error) {
	sp := bytes.IndexByte(b, ' ')
	if sp <= 0 {
		return Message{}, ErrNoCookie
	}
	m := Message{Cookie: string(b[:sp])}
	body := b[sp+1:]
	if len(body) > 0 && body[0] == '{' {
		m.Encoding = JSON
	}
	if len(b) > MaxMessageSize {
		if m.Encoding == JSON {
			return m, wrapReason(ErrJSON, errors.New("message too large"))
		}
		return m, wrapReason(ErrBencode, errors.New("message too large"))
	}
	d, enc, err := DecodeBody(body)
	m.Body, m.Encoding = d, enc
	return m, err
}

// DecodeBody decodes a bencode ('d...') or JSON ('{...') dictionary.
func DecodeBody(b []byte) (Dict, Encoding, error) {
	if len(b) == 0 {
		return nil, Bencode, ErrNoPayload
	}
	switch b[0] {
	case 'd':
		d, err := decodeBencode(b)
		return d, Bencode, err
	case '{':
		d, err := decodeJSON(b)
		return d, JSON, err
	}
	return nil, Bencode, ErrFormat
}

// AppendMessage appends "<cookie> <encoded body>" to dst.
func AppendMessage(dst []byte, m Message) ([]byte, error) {
	dst = append(dst, m.Cookie...)
	dst = append(dst, ' ')
	var err error
	switch m.Encoding {
	case JSON:
		dst, err = appendJSON(dst, m.Body)
	default:
		dst, err = appendBencode(dst, m.Body)
	}
	if err != nil {
		return nil, err
	}
	return dst, nil
}

// EncodeBody encodes d in the given encoding.
func EncodeBody(d Dict, enc Encoding) ([]byte, error) {
	if enc == JSON {
		return appendJSON(nil, d)
	}
	return appendBencode(nil, d)
}

// ---- bencode ----

// decodeBencode validates the first bencode item of b cheaply (so that
// hostile length prefixes or nesting never reach the library's allocator)
// and hands exactly that item to bencode-go. Like rtpengine it decodes the
// first dictionary and ignores what follows; like rtpengine it also
// accepts containers left unterminated at the end of the input.
func decodeBencode(b []byte) (Dict, error) {
	end, open, odd, err := scanBencode(b)
	if err != nil {
		return nil, wrapReason(ErrBencode, err)
	}
	item := b[:end]
	if odd {
		item = canonInts(item)
	}
	if open > 0 {
		fixed := make([]byte, 0, len(item)+open)
		fixed = append(fixed, item...)
		for i := 0; i < open; i++ {
			fixed = append(fixed, 'e')
		}
		item = fixed
	}
	v, err := bencode.Decode(bytes.NewReader(item))
	if err != nil {
		return nil, wrapReason(ErrBencode, err)
	}
	d, ok := normalize(v, 0).(Dict)
	if !ok {
		return nil, wrapReason(ErrBencode, errors.New("not a dictionary"))
	}
	return d, nil
}

// scanBencode walks one bencode item following rtpengine's lib/bencode.c
// rules. It returns the item's end offset and how many containers were
// still open when the input ended.
func scanBencode(b []byte) (end, open int, odd bool, err error) {
	type frame struct {
		dict   bool
		keyNow bool // dict: next item is a key
	}
	var stack [MaxDepth]frame
	depth := 0
	i := 0
	for {
		if i >= len(b) {
			if depth == 0 {
				return 0, 0, false, errors.New("truncated")
			}
			// rtpengine returns unterminated containers as they are, but a
			// dictionary key must have its value.
			if f := stack[depth-1]; f.dict && !f.keyNow {
				return 0, 0, false, errors.New("dictionary key without value")
			}
			return i, depth, odd, nil
		}
		c := b[i]
		var top *frame
		if depth > 0 {
			top = &stack[depth-1]
		}
		if c == 'e' {
			if top == nil || (top.dict && !top.keyNow) {
				return 0, 0, false, fmt.Errorf("unexpected 'e' at %d", i)
			}
			i++
			depth--
			if depth == 0 {
				return i, 0, odd, nil
			}
			continue
		}
		if top != nil && top.dict && top.keyNow && (c < '0' || c > '9') {
			return 0, 0, false, fmt.Errorf("non-string dictionary key at %d", i)
		}
		if top != nil && top.dict {
			top.keyNow = !top.keyNow
		}
		switch {
		case c == 'd' || c == 'l':
			if depth == MaxDepth {
				return 0, 0, false, errors.New("nesting too deep")
			}
			stack[depth] = frame{dict: c == 'd', keyNow: true}
			depth++
			i++
			continue
		case c == 'i':
			j := i + 1
			if j < len(b) && b[j] == '0' {
				j++
			} else {
				// strtoll: leading white space, either sign, clamping
				for j < len(b) && isCSpace(b[j]) {
					j++
					odd = true
				}
				k := j
				if j < len(b) && (b[j] == '-' || b[j] == '+') {
					j++
				}
				d := j
				for j < len(b) && b[j] >= '0' && b[j] <= '9' {
					j++
				}
				if j == d {
					return 0, 0, false, fmt.Errorf("bad integer at %d", i)
				}
				if j-d > 18 {
					if _, perr := strconv.ParseInt(string(b[k:j]), 10, 64); perr != nil {
						odd = true
					}
				}
			}
			if j >= len(b) || b[j] != 'e' {
				return 0, 0, false, fmt.Errorf("bad integer at %d", i)
			}
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			n := 0
			if c == '0' {
				j++
			} else {
				for j < len(b) && b[j] >= '0' && b[j] <= '9' {
					n = n*10 + int(b[j]-'0')
					if n > len(b) {
						return 0, 0, false, fmt.Errorf("string length beyond input at %d", i)
					}
					j++
				}
			}
			if j >= len(b) || b[j] != ':' {
				return 0, 0, false, fmt.Errorf("bad string at %d", i)
			}
			j++
			if n > len(b)-j {
				return 0, 0, false, fmt.Errorf("string length beyond input at %d", i)
			}
			i = j + n
		default:
			return 0, 0, false, fmt.Errorf("unexpected byte %q at %d", c, i)
		}
		if depth == 0 {
			return i, 0, odd, nil
		}
	}
}

func isCSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

// canonInts rewrites the integers of an already validated bencode item the
// way strtoll reads them (white space skipped, out of range clamped), so
// that bencode-go, which is stricter, decodes what rtpengine accepts.
func canonInts(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == 'i':
			j := i + 1
			for j < len(b) && isCSpace(b[j]) {
				j++
			}
			k := j
			for j < len(b) && b[j] != 'e' {
				j++
			}
			v, err := strconv.ParseInt(string(b[k:j]), 10, 64)
			if err != nil { // only range errors remain after scanBencode
				v = math.MaxInt64
				if b[k] == '-' {
					v = math.MinInt64
				}
			}
			out = append(out, 'i')
			out = strconv.AppendInt(out, v, 10)
			out = append(out, 'e')
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			n := 0
			for b[j] != ':' {
				n = n*10 + int(b[j]-'0')
				j++
			}
			out = append(out, b[i:j+1+n]...)
			i = j + 1 + n
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

// appendBencode encodes a reply (see bencode_append.go for why this is not
// bencode-go's Marshal).
func appendBencode(dst []byte, d Dict) ([]byte, error) {
	out, err := appendBencodeDict(dst, d, 0)
	if err != nil {
		return nil, fmt.Errorf("encode bencode: %w", err)
	}
	return out, nil
}

// ---- JSON ----

func decodeJSON(b []byte) (Dict, error) {
	if err := scanJSONDepth(b); err != nil {
		return nil, wrapReason(ErrJSON, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, wrapReason(ErrJSON, err)
	}
	// json-glib rejects a document with anything but whitespace after it.
	if rest := bytes.TrimSpace(b[dec.InputOffset():]); len(rest) > 0 {
		return nil, wrapReason(ErrJSON, errors.New("trailing data after JSON object"))
	}
	if m == nil {
		return nil, ErrJSONDict
	}
	// rtpengine converts JSON to its bencode tree and fails on what
	// bencode cannot hold: null and non-integer numbers.
	if err := checkJSONValue(m); err != nil {
		return nil, wrapReason(ErrBencode, err)
	}
	d, _ := normalize(m, 0).(Dict)
	return d, nil
}

func checkJSONValue(v any) error {
	switch x := v.(type) {
	case nil:
		return errors.New("null value")
	case json.Number:
		if _, err := x.Int64(); err != nil {
			return fmt.Errorf("non-integer number %s", x)
		}
	case []any:
		for _, e := range x {
			if err := checkJSONValue(e); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, e := range x {
			if err := checkJSONValue(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// scanJSONDepth rejects nesting deeper than MaxDepth before encoding/json
// builds anything.
func scanJSONDepth(b []byte) error {
	depth := 0
	inStr := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return errors.New("nesting too deep")
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

func appendJSON(dst []byte, d Dict) ([]byte, error) {
	nd, _, err := canonical(d, 0)
	if err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(nd); err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil // Encode appends a newline
}

// ---- normalisation ----

// normalize turns decoder output into Dict's value kinds: string, int64,
// []any, Dict. Values without an NG meaning (JSON null) become nil and are
// dropped by the container that holds them.
func normalize(v any, depth int) any {
	if depth > MaxDepth {
		return nil
	}
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return x
	case []byte:
		return string(x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return int64(f)
		}
		return x.String()
	case bool:
		// json-glib hands booleans out as integers.
		if x {
			return int64(1)
		}
		return int64(0)
	case uint64:
		if x > math.MaxInt64 {
			return strconv.FormatUint(x, 10)
		}
		return int64(x)
	case int:
		return int64(x)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return int64(x)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []any:
		out := x[:0]
		for _, e := range x {
			switch e.(type) {
			case string, int64:
				// Already canonical: keep the interface value as it is
				// (normalize's result would be boxed again).
				out = append(out, e)
				continue
			}
			if n := normalize(e, depth+1); n != nil {
				out = append(out, n)
			}
		}
		return out
	case map[string]any:
		// same underlying type: convert in place, no copy
		return normalize(Dict(x), depth)
	case Dict:
		for k, e := range x {
			switch e.(type) {
			case string, int64:
				continue // already canonical; storing it again would box it again
			}
			if n := normalize(e, depth+1); n != nil {
				x[k] = n
			} else {
				delete(x, k)
			}
		}
		return x
	}
	return nil
}

// canonical returns d with every value converted to a kind both encoders
// write (callers may put []string, int, bool ... into a reply). It copies
// only when something needs converting, and reports whether it did.
func canonical(d Dict, depth int) (Dict, bool, error) {
	if depth > MaxDepth {
		return nil, false, errors.New("nesting too deep")
	}
	var out Dict
	for k, v := range d {
		nv, changed, err := canonicalValue(v, depth+1)
		if err != nil {
			return nil, false, fmt.Errorf("key %q: %w", k, err)
		}
		if !changed {
			continue
		}
		if out == nil {
			out = make(Dict, len(d))
			for k2, v2 := range d {
				out[k2] = v2
			}
		}
		if nv == nil {
			delete(out, k)
		} else {
			out[k] = nv
		}
	}
	if out == nil {
		if d == nil {
			return Dict{}, false, nil
		}
		return d, false, nil
	}
	return out, true, nil
}

func canonicalValue(v any, depth int) (any, bool, error) {
	switch x := v.(type) {
	case string, int64:
		return v, false, nil
	case Dict:
		if x == nil {
			return Dict{}, true, nil
		}
		return canonical(x, depth)
	case []any:
		var out []any
		for i, e := range x {
			ne, changed, err := canonicalValue(e, depth+1)
			if err != nil {
				return nil, false, err
			}
			if changed && out == nil {
				out = make([]any, 0, len(x))
				out = append(out, x[:i]...)
			}
			if out != nil && ne != nil {
				out = append(out, ne)
			}
		}
		if out != nil {
			return out, true, nil
		}
		if x == nil {
			return []any{}, true, nil
		}
		return x, false, nil
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true, nil
	case map[string]any:
		nd, _, err := canonical(Dict(x), depth)
		return nd, true, err
	case Bencoded:
		d, err := decodeBencode(x)
		if err != nil {
			return nil, false, fmt.Errorf("bencoded value: %w", err)
		}
		nd, _, err := canonical(d, depth)
		return nd, true, err
	case map[string]string:
		nd := make(Dict, len(x))
		for k, s := range x {
			nd[k] = s
		}
		return nd, true, nil
	case int:
		return int64(x), true, nil
	case int32:
		return int64(x), true, nil
	case uint16:
		return int64(x), true, nil
	case uint32:
		return int64(x), true, nil
	case uint64:
		if x > math.MaxInt64 {
			return strconv.FormatUint(x, 10), true, nil
		}
		return int64(x), true, nil
	case bool:
		if x {
			return int64(1), true, nil
		}
		return int64(0), true, nil
	case []byte:
		return string(x), true, nil
	case fmt.Stringer:
		return x.String(), true, nil
	case nil:
		return nil, true, nil
	}
	return nil, false, fmt.Errorf("unsupported value type %T", v)
}
