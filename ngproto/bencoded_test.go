package ngproto

import (
	"bytes"
	"testing"
)

// TestBencodedValue: a Bencoded part encodes exactly as the Dict it
// stands for, in both encodings.
func TestBencodedValue(t *testing.T) {
	var b []byte
	b = append(b, 'd')
	b = AppendBencodeString(b, "a")
	b = AppendBencodeInt(b, -3)
	b = AppendBencodeString(b, "b")
	b = AppendBencodeBytes(b, []byte("x y"))
	b = append(b, 'e')
	raw := Dict{"result": "ok", "part": Bencoded(b)}
	tree := Dict{"result": "ok", "part": Dict{"a": int64(-3), "b": "x y"}}
	for _, enc := range []Encoding{Bencode, JSON} {
		got, err := AppendMessage(nil, Message{Cookie: "c", Body: raw, Encoding: enc})
		if err != nil {
			t.Fatalf("%v: %v", enc, err)
		}
		want, err := AppendMessage(nil, Message{Cookie: "c", Body: tree, Encoding: enc})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%v: %q, want %q", enc, got, want)
		}
	}
	// A broken part is an encoding error (the server answers "Internal
	// error"), not a corrupt reply.
	if _, err := AppendMessage(nil, Message{Cookie: "c", Body: Dict{"p": Bencoded("d1:a")}, Encoding: JSON}); err == nil {
		t.Error("JSON encoding of a truncated Bencoded part succeeded")
	}
}
