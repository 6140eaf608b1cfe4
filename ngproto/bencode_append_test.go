package ngproto

import (
	"bytes"
	"net/netip"
	"testing"

	bencode "github.com/jackpal/bencode-go"
)

// libraryEncode is what the reply encoder replaced: canonicalise, then
// bencode-go's Marshal. The appender must write the same bytes.
func libraryEncode(t testing.TB, d Dict) []byte {
	t.Helper()
	nd, _, err := canonical(d, 0)
	if err != nil {
		t.Fatalf("canonical: %v", err)
	}
	var buf bytes.Buffer
	if err := bencode.Marshal(&buf, nd); err != nil {
		t.Fatalf("bencode-go Marshal: %v", err)
	}
	return buf.Bytes()
}

func TestAppendBencodeMatchesLibrary(t *testing.T) {
	cases := []Dict{
		{},
		{"result": "ok"},
		{"result": "ok", "sdp": benchOfferSDP, "created": int64(1700000000), "empty": ""},
		{"z": "last", "a": "first", "m": []any{"x", int64(-3), Dict{"k": "v"}, []any{}}},
		{"nilval": nil, "list": []any{nil, "kept", nil}, "nildict": Dict(nil), "nillist": []any(nil)},
		{"ints": []any{int(7), int32(-8), uint16(9), uint32(10), uint64(11), uint64(1 << 63)}},
		{"bools": []any{true, false}, "bytes": []byte("raw\x00bytes"), "addr": netip.MustParseAddr("192.0.2.1")},
		{"strs": []string{"b", "a"}, "ss": map[string]string{"y": "1", "x": "2"}, "m": map[string]any{"q": int64(1)}},
		{"tags": Dict{"as4cd": Dict{"medias": []any{Dict{"index": int64(1), "streams": []any{Dict{"local port": int64(30000)}}}}}}},
		{"utf8 kéy": "välue", "": "empty key"},
	}
	for i, d := range cases {
		got, err := appendBencode(nil, d)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if want := libraryEncode(t, d); !bytes.Equal(got, want) {
			t.Errorf("case %d:\n got  %q\n want %q", i, got, want)
		}
		// And it decodes back through the library the requests go through.
		if _, err := decodeBencode(got); err != nil {
			t.Errorf("case %d: own output does not decode: %v", i, err)
		}
	}
}

func TestAppendBencodeRejects(t *testing.T) {
	if _, err := appendBencode(nil, Dict{"c": make(chan int)}); err == nil {
		t.Error("a channel value encoded without error")
	}
	deep := Dict{}
	cur := deep
	for range MaxDepth + 2 {
		next := Dict{}
		cur["d"] = next
		cur = next
	}
	if _, err := appendBencode(nil, deep); err == nil {
		t.Error("nesting beyond MaxDepth encoded without error")
	}
}

// FuzzAppendBencode: any dictionary a request decodes to re-encodes to the
// same bytes through the appender and through bencode-go.
func FuzzAppendBencode(f *testing.F) {
	for _, s := range []string{
		"d7:command4:pinge",
		"d1:zi-5e1:al1:xd1:k1:veee",
		"d3:sdp5:v=0\r\n5:flagsl5:a b c3:xyzee",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeBencode(b)
		if err != nil {
			return
		}
		got, err := appendBencode(nil, d)
		if err != nil {
			t.Fatalf("decoded dict does not encode: %v", err)
		}
		if want := libraryEncode(t, d); !bytes.Equal(got, want) {
			t.Fatalf("appender and bencode-go differ:\n got  %q\n want %q", got, want)
		}
	})
}
