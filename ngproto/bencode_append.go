package ngproto

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Replies are encoded by this appender rather than by bencode-go's
// Marshal. bencode-go still decodes every request; its encoder formats
// each token through fmt.Fprintf and reflection and was 18% of mediad's
// CPU per offer/answer/delete cycle (perf, 16 clients). The output is
// byte-for-byte what bencode-go writes for the same Dict (keys sorted, nil
// values skipped), which TestAppendBencodeMatchesLibrary and
// FuzzAppendBencode hold it to.

// appendBencodeDict appends d as a bencode dictionary with sorted keys.
func appendBencodeDict(dst []byte, d Dict, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return nil, errors.New("nesting too deep")
	}
	// Replies have a handful of keys: sort them in a stack buffer.
	var kbuf [16]string
	keys := kbuf[:0]
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, 'd')
	for _, k := range keys {
		v := d[k]
		if v == nil {
			continue // bencode has no null: the key is left out
		}
		dst = appendBencodeString(dst, k)
		var err error
		if dst, err = appendBencodeValue(dst, v, depth+1); err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
	}
	return append(dst, 'e'), nil
}

func appendBencodeString(dst []byte, s string) []byte {
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, ':')
	return append(dst, s...)
}

func appendBencodeInt(dst []byte, i int64) []byte {
	dst = append(dst, 'i')
	dst = strconv.AppendInt(dst, i, 10)
	return append(dst, 'e')
}

// appendBencodeValue writes the kinds replies are made of directly and
// leaves the rarer ones to canonicalValue, so both encoders convert alike.
func appendBencodeValue(dst []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return appendBencodeString(dst, x), nil
	case int64:
		return appendBencodeInt(dst, x), nil
	case int:
		return appendBencodeInt(dst, int64(x)), nil
	case Dict:
		return appendBencodeDict(dst, x, depth)
	case Bencoded:
		return append(dst, x...), nil
	case map[string]any:
		return appendBencodeDict(dst, Dict(x), depth)
	case []any:
		if depth > MaxDepth {
			return nil, errors.New("nesting too deep")
		}
		dst = append(dst, 'l')
		for _, e := range x {
			if e == nil {
				continue
			}
			var err error
			if dst, err = appendBencodeValue(dst, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(dst, 'e'), nil
	}
	// The other kinds a reply may hold ([]string, bool, uint64, Stringers
	// ...) convert as for JSON, then take one of the cases above.
	nv, _, err := canonicalValue(v, depth)
	if err != nil {
		return nil, err
	}
	if nv == nil {
		return dst, nil // nil: the callers skip it before it gets here
	}
	return appendBencodeValue(dst, nv, depth)
}
