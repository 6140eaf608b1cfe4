package ngproto

import "strconv"

// Bencoded is a reply value already written in bencode: one complete
// dictionary, keys in byte order as every encoder here writes them. It is
// for the large parts of a reply that a handler can write directly (call
// statistics) instead of building a Dict tree only to encode it. The
// bencode encoder copies it as is; a JSON reply decodes it first (through
// bencode-go, like a request), which is the rare path.
type Bencoded []byte

// AppendBencodeString appends s as a bencode string, for Bencoded values.
func AppendBencodeString(dst []byte, s string) []byte { return appendBencodeString(dst, s) }

// AppendBencodeBytes appends b as a bencode string.
func AppendBencodeBytes(dst, b []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, ':')
	return append(dst, b...)
}

// AppendBencodeInt appends i as a bencode integer.
func AppendBencodeInt(dst []byte, i int64) []byte { return appendBencodeInt(dst, i) }
