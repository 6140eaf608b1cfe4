package kmod

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// counterReader reads the counters of single set elements with a
// non-dump NFT_MSG_GETSETELEM: a hash lookup per element in the kernel,
// where a dump walks the whole set. google/nftables v0.3.0 only dumps.
type counterReader struct {
	c      *netlink.Conn
	family byte
	table  string
	set    string
}

func dialCounterReader(netns int, family byte, table, set string) (*counterReader, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netns})
	if err != nil {
		return nil, err
	}
	return &counterReader{c: c, family: family, table: table, set: set}, nil
}

func (r *counterReader) Close() error { return r.c.Close() }

// setAttrs starts a GETSETELEM request's attributes: the table and set.
func (r *counterReader) setAttrs() *netlink.AttributeEncoder {
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, r.table)
	ae.String(unix.NFTA_SET_ELEM_LIST_SET, r.set)
	return ae
}

// send sends a GETSETELEM request with the given flags besides Request.
func (r *counterReader) send(ae *netlink.AttributeEncoder, flags netlink.HeaderFlags) (netlink.Message, error) {
	attrs, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, err
	}
	return r.c.Send(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM),
			Flags: netlink.Request | flags,
		},
		Data: append([]byte{r.family, unix.NFNETLINK_V0, 0, 0}, attrs...),
	})
}

// get returns the counters of the elements with the given keys, in order.
// Every key must exist.
func (r *counterReader) get(keys ...[]byte) ([]Counter, error) {
	ae := r.setAttrs()
	ae.Nested(unix.NFTA_SET_ELEM_LIST_ELEMENTS, func(ae *netlink.AttributeEncoder) error {
		for _, k := range keys {
			ae.Nested(unix.NFTA_LIST_ELEM, func(ae *netlink.AttributeEncoder) error {
				ae.Nested(unix.NFTA_SET_ELEM_KEY, func(ae *netlink.AttributeEncoder) error {
					ae.Bytes(unix.NFTA_DATA_VALUE, k)
					return nil
				})
				return nil
			})
		}
		return nil
	})
	sent, err := r.send(ae, netlink.Acknowledge)
	if err != nil {
		return nil, err
	}
	out := make([]Counter, len(keys))
	found := 0
	// One reply per element, then the ack (an error ends the request).
	for {
		msgs, err := r.c.Receive()
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.Header.Sequence != sent.Header.Sequence {
				continue
			}
			if m.Header.Type == netlink.Error {
				if found != len(keys) {
					return nil, fmt.Errorf("got %d of %d elements", found, len(keys))
				}
				return out, nil
			}
			key, c, err := parseElemCounter(m.Data)
			if err != nil {
				return nil, err
			}
			for i, k := range keys {
				if bytes.Equal(k, key) {
					out[i] = c
					found++
				}
			}
		}
	}
}

// dump calls fn with the key and counter of every element of the set,
// from one NFT_MSG_GETSETELEM dump. key is only valid during the call.
// Parsing the messages in place costs a fraction of google/nftables'
// GetSetElements, which decodes every element into allocated structs.
func (r *counterReader) dump(fn func(key []byte, c Counter)) error {
	sent, err := r.send(r.setAttrs(), netlink.Dump)
	if err != nil {
		return err
	}
	// Receive gathers the parts of a dump up to its Done message.
	msgs, err := r.c.Receive()
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Sequence != sent.Header.Sequence || m.Header.Type == netlink.Done {
			continue
		}
		if err := parseElems(m.Data, fn); err != nil {
			return err
		}
	}
	return nil
}

// parseElems decodes a NEWSETELEM message, calling fn for each element.
func parseElems(b []byte, fn func(key []byte, c Counter)) error {
	if len(b) < 4 {
		return errors.New("short set element message")
	}
	return walk(b[4:], func(t uint16, v []byte) error {
		if t != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			return nil
		}
		return walk(v, func(_ uint16, elem []byte) error { // NFTA_LIST_ELEM
			var key []byte
			var c Counter
			err := walk(elem, func(t uint16, v []byte) error {
				switch t {
				case unix.NFTA_SET_ELEM_KEY:
					return walk(v, func(t uint16, v []byte) error {
						if t == unix.NFTA_DATA_VALUE {
							key = v
						}
						return nil
					})
				case unix.NFTA_SET_ELEM_EXPR:
					return parseCounterExpr(v, &c)
				case nftaSetElemExpressions:
					return walk(v, func(_ uint16, e []byte) error { return parseCounterExpr(e, &c) })
				}
				return nil
			})
			if err != nil {
				return err
			}
			if key == nil {
				return errors.New("set element without key")
			}
			fn(key, c)
			return nil
		})
	})
}

// parseElemCounter decodes a NEWSETELEM message holding one element.
func parseElemCounter(b []byte) (key []byte, c Counter, err error) {
	found := false
	err = parseElems(b, func(k []byte, kc Counter) {
		if !found {
			key, c, found = k, kc, true
		}
	})
	if err == nil && !found {
		err = errors.New("set element without key")
	}
	return key, c, err
}

func parseCounterExpr(b []byte, c *Counter) error {
	var name string
	var data []byte
	err := walk(b, func(t uint16, v []byte) error {
		switch t {
		case unix.NFTA_EXPR_NAME:
			name = string(bytes.TrimRight(v, "\x00"))
		case unix.NFTA_EXPR_DATA:
			data = v
		}
		return nil
	})
	if err != nil || name != "counter" {
		return err
	}
	return walk(data, func(t uint16, v []byte) error {
		if len(v) != 8 {
			return nil
		}
		switch t {
		case unix.NFTA_COUNTER_BYTES:
			c.Bytes = binary.BigEndian.Uint64(v)
		case unix.NFTA_COUNTER_PACKETS:
			c.Packets = binary.BigEndian.Uint64(v)
		}
		return nil
	})
}

// walk calls fn for each netlink attribute in b.
// It parses the headers in place (no decoder allocated per level: a dump
// of thousands of elements nests four deep). Types lose the nested and
// byte-order flags, as netlink.AttributeDecoder reports them.
func walk(b []byte, fn func(t uint16, v []byte) error) error {
	for len(b) > 0 {
		if len(b) < unix.SizeofNlAttr {
			return errors.New("truncated netlink attribute")
		}
		n := int(binary.NativeEndian.Uint16(b))
		if n < unix.SizeofNlAttr || n > len(b) {
			return fmt.Errorf("bad netlink attribute length %d", n)
		}
		t := binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if err := fn(t, b[unix.SizeofNlAttr:n]); err != nil {
			return err
		}
		b = b[min((n+unix.NLA_ALIGNTO-1)&^(unix.NLA_ALIGNTO-1), len(b)):]
	}
	return nil
}

// nftaSetElemExpressions is NFTA_SET_ELEM_EXPRESSIONS (several stateful
// expressions per element), missing from x/sys/unix.
const nftaSetElemExpressions = 0x0b
