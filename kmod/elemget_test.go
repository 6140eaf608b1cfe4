package kmod

import (
	"bytes"
	"testing"

	"github.com/mdlayher/netlink"
)

// walk parses what netlink's encoder writes (padding, nested flags) and
// rejects truncated input instead of reading past it.
func TestWalk(t *testing.T) {
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(1, []byte{1, 2, 3}) // padded to 8
	ae.Nested(2, func(ae *netlink.AttributeEncoder) error {
		ae.Uint32(3, 7)
		return nil
	})
	ae.Bytes(4, nil)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var types []uint16
	var vals [][]byte
	err = walk(b, func(typ uint16, v []byte) error {
		types = append(types, typ)
		vals = append(vals, v)
		return nil
	})
	if err != nil || len(types) != 3 || types[0] != 1 || types[1] != 2 || types[2] != 4 {
		t.Fatalf("types %v, %v", types, err)
	}
	if !bytes.Equal(vals[0], []byte{1, 2, 3}) || len(vals[2]) != 0 {
		t.Errorf("values %v", vals)
	}
	var inner []uint16
	if err := walk(vals[1], func(typ uint16, v []byte) error {
		inner = append(inner, typ)
		if len(v) != 4 {
			t.Errorf("inner value %v", v)
		}
		return nil
	}); err != nil || len(inner) != 1 || inner[0] != 3 {
		t.Errorf("nested: %v %v", inner, err)
	}
	for _, bad := range [][]byte{b[:2], b[:6], {3, 0, 1, 0}, {200, 0, 1, 0, 0, 0, 0, 0}} {
		if err := walk(bad, func(uint16, []byte) error { return nil }); err == nil {
			t.Errorf("walk(% x) accepted", bad)
		}
	}
}
