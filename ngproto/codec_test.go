package ngproto

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeMessageBencodeUnsorted(t *testing.T) {
	m, err := DecodeMessage([]byte("abc123 d7:command4:ping5:flagsl5:trust7:addresse3:agei42e1:ad1:xi-7eee"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Cookie != "abc123" || m.Encoding != Bencode {
		t.Fatalf("cookie/encoding: %+v", m)
	}
	want := Dict{"command": "ping", "flags": []any{"trust", "address"}, "age": int64(42), "a": Dict{"x": int64(-7)}}
	if !reflect.DeepEqual(m.Body, want) {
		t.Fatalf("body %#v, want %#v", m.Body, want)
	}
}

func TestDecodeMessageJSON(t *testing.T) {
	m, err := DecodeMessage([]byte(`c1 {"command":"offer","n":5,"t":true,"f":false,"l":["a",1,{"k":"v"}]}  `))
	if err != nil {
		t.Fatal(err)
	}
	want := Dict{"command": "offer", "n": int64(5), "t": int64(1), "f": int64(0),
		"l": []any{"a", int64(1), Dict{"k": "v"}}}
	if m.Encoding != JSON || !reflect.DeepEqual(m.Body, want) {
		t.Fatalf("got %#v", m)
	}
}

func TestDecodeMessageErrors(t *testing.T) {
	cases := []struct {
		in     string
		noCook bool
		reason string
		cookie string
		enc    Encoding
	}{
		{in: "nospace", noCook: true},
		{in: " d4:testi1ee", noCook: true},
		{in: "", noCook: true},
		{in: "ck ", reason: "Invalid data (no payload)", cookie: "ck"},
		{in: "ck x", reason: "Invalid NG data format", cookie: "ck"},
		{in: "ck  d1:ai1ee", reason: "Invalid NG data format", cookie: "ck"},
		{in: "ck d3:foo", reason: "Could not decode bencode dictionary", cookie: "ck"},
		{in: "ck d999999999999:x", reason: "Could not decode bencode dictionary", cookie: "ck"},
		{in: "ck d3:foo99999999999999999999999:xe", reason: "Could not decode bencode dictionary", cookie: "ck"},
		{in: "ck di1ei2ee", reason: "Could not decode bencode dictionary", cookie: "ck"},
		{in: "ck d1:ai05ee", reason: "Could not decode bencode dictionary", cookie: "ck"},
		{in: "ck d1:a05:helloe", reason: "Could not decode bencode dictionary", cookie: "ck"},
		{in: "ck d1:ai e", reason: "Could not decode bencode dictionary", cookie: "ck"},
		{in: "ck d1:ai-ee", reason: "Could not decode bencode dictionary", cookie: "ck"},
		{in: "ck " + strings.Repeat("d1:a", 70) + strings.Repeat("e", 70), reason: "Could not decode bencode dictionary", cookie: "ck"},
		{in: `ck {"command":"ping","x":null}`, reason: "Could not decode bencode dictionary", cookie: "ck", enc: JSON},
		{in: `ck {"command":"ping","x":[1.5]}`, reason: "Could not decode bencode dictionary", cookie: "ck", enc: JSON},
		{in: `ck {"command":"ping","x":2e3}`, reason: "Could not decode bencode dictionary", cookie: "ck", enc: JSON},
		{in: "ck {", reason: "Failed to parse JSON document", cookie: "ck", enc: JSON},
		{in: `ck {"a":1} x`, reason: "Failed to parse JSON document", cookie: "ck", enc: JSON},
		{in: "ck " + strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70), reason: "Failed to parse JSON document", cookie: "ck", enc: JSON},
	}
	for _, c := range cases {
		m, err := DecodeMessage([]byte(c.in))
		if c.noCook {
			if !errors.Is(err, ErrNoCookie) {
				t.Errorf("%q: err %v, want ErrNoCookie", c.in, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q: no error", c.in)
			continue
		}
		if Reason(err) != c.reason || m.Cookie != c.cookie || m.Encoding != c.enc {
			t.Errorf("%q: reason %q cookie %q enc %v", c.in, Reason(err), m.Cookie, m.Encoding)
		}
	}
}

func TestDecodeLenientLikeRtpengine(t *testing.T) {
	// trailing garbage after the first dictionary is ignored, and an
	// unterminated dictionary at the end of input is accepted.
	for _, in := range []string{"ck d7:command4:pingegarbage", "ck d7:command4:ping", "ck d7:command4:ping5:flagsl",
		"ck d7:command4:ping1:ai+5ee", "ck d7:command4:ping1:ai-0ee", "ck d7:command4:ping1:ai 7e1:bi99999999999999999999ee",
		"ck d7:command4:ping1:ai-99999999999999999999e1:b3:x:ye"} {
		m, err := DecodeMessage([]byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if m.Body.Str("command") != "ping" {
			t.Fatalf("%q: %#v", in, m.Body)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	d := Dict{"result": "ok", "sdp": "v=0\r\n<&>", "n": 3, "l": []string{"a", "b"}, "b": true,
		"sub": map[string]any{"x": int64(1), "y": nil}, "nested": Dict{"k": []any{1, "s"}}}
	want := Dict{"result": "ok", "sdp": "v=0\r\n<&>", "n": int64(3), "l": []any{"a", "b"}, "b": int64(1),
		"sub": Dict{"x": int64(1)}, "nested": Dict{"k": []any{int64(1), "s"}}}
	for _, enc := range []Encoding{Bencode, JSON} {
		out, err := AppendMessage([]byte("pre:"), Message{Cookie: "k9", Body: d, Encoding: enc})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(out, []byte("pre:k9 ")) {
			t.Fatalf("prefix: %q", out)
		}
		m, err := DecodeMessage(out[4:])
		if err != nil {
			t.Fatalf("%v: %v (%q)", enc, err, out)
		}
		if m.Encoding != enc || !reflect.DeepEqual(m.Body, want) {
			t.Fatalf("%v: got %#v", enc, m.Body)
		}
	}
	if _, err := EncodeBody(Dict{"x": struct{}{}}, Bencode); err == nil {
		t.Fatal("unsupported type encoded")
	}
	// the caller's dictionary is not modified
	if _, ok := d["n"].(int); !ok {
		t.Fatal("input modified")
	}
}

func TestDictAccessors(t *testing.T) {
	d := Dict{"transport_protocol": "RTP/AVP", "delete delay": "30", "flags": "trust-address, strict-source",
		"ICE": []any{"force"}, "num": int64(7), "sub": Dict{"a": "b"}, "Call-ID": "exact"}
	if d.Str("transport-protocol") != "RTP/AVP" || d.Str("transport protocol") != "RTP/AVP" {
		t.Fatal("alias")
	}
	if v, ok := d.Int("delete-delay"); !ok || v != 30 {
		t.Fatal("int string")
	}
	if _, ok := d.Int("transport-protocol"); ok {
		t.Fatal("non-numeric int")
	}
	if !reflect.DeepEqual(d.List("flags"), []string{"trust-address", "strict-source"}) {
		t.Fatal(d.List("flags"))
	}
	if !reflect.DeepEqual(d.List("ice"), []string{"force"}) {
		t.Fatal("list")
	}
	if d.Str("num") != "7" || d.Sub("sub").Str("a") != "b" || d.Sub("num") != nil {
		t.Fatal("str/sub")
	}
	if d.Str("call-id") != "exact" {
		t.Fatal("case alias")
	}
	if ErrorReply("x").ReplyError() != "x" || OK().ReplyError() != "" || Pong().Result() != "pong" {
		t.Fatal("reply helpers")
	}
}

func TestDecodeClampsIntegersLikeStrtoll(t *testing.T) {
	m, err := DecodeMessage([]byte("ck d1:ai 7e1:bi99999999999999999999e1:ci-99999999999999999999e1:d3:i1ee"))
	if err != nil {
		t.Fatal(err)
	}
	want := Dict{"a": int64(7), "b": int64(math.MaxInt64), "c": int64(math.MinInt64), "d": "i1e"}
	if !reflect.DeepEqual(m.Body, want) {
		t.Fatalf("%#v", m.Body)
	}
}

// TestDictPretty checks the dump format of rtpengine 10.5's pretty_print
// (e2e's TestLogOptions compares a real one).
func TestDictPretty(t *testing.T) {
	d, _, err := DecodeBody([]byte("d7:call-id3:abc7:command5:offer5:flagsl5:trust12:loop-protecte8:from-tag2:ft3:numi-5e1:xd1:ali1eeee"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{ "call-id": "abc", "command": "offer", "flags": [ "trust", "loop-protect" ], "from-tag": "ft", "num": -5, "x": { "a": [ 1 ] } }`
	if got := d.Pretty(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
