package registrar

import (
	"context"
	"errors"
	"testing"
	"time"
)

func newReg(now *time.Time) *Registrar {
	return &Registrar{Store: NewMemStore(), Limits: Limits{Default: 3600, Min: 60, Max: 7200}, Now: func() time.Time { return *now }}
}

func TestSaveRules(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newReg(&now)
	ctx := context.Background()
	base := SaveRequest{AOR: "bob", Expires: -1, CallID: "c1", CSeq: 1}

	sr := base
	sr.Contacts = []ContactIn{{URI: "sip:bob@10.0.0.1"}, {URI: "sip:bob@10.0.0.2", Q: "0.9", Expires: "10"}}
	bs, err := r.Save(ctx, sr)
	if err != nil || len(bs) != 2 {
		t.Fatalf("save: %v %v", bs, err)
	}
	if r.Remaining(bs[0]) != 3600 || r.Remaining(bs[1]) != 60 {
		t.Errorf("default/min clamp: %d %d", r.Remaining(bs[0]), r.Remaining(bs[1]))
	}
	// Same Call-ID, lower CSeq: refused, nothing changed.
	sr = base
	sr.CSeq = 0
	sr.Contacts = []ContactIn{{URI: "sip:bob@10.0.0.1", Expires: "0"}}
	if _, err := r.Save(ctx, sr); !errors.Is(err, ErrInvalidCSeq) {
		t.Fatalf("out-of-order CSeq: %v", err)
	}
	// Same Call-ID and CSeq soon after: a retransmission, answered with
	// the bindings as they are.
	sr.CSeq = 1
	if bs, err := r.Save(ctx, sr); err != nil || len(bs) != 2 {
		t.Fatalf("retransmission: %v %v", bs, err)
	}
	// ... but not once the window has passed.
	now = now.Add(RetransmitWindow)
	if _, err := r.Save(ctx, sr); !errors.Is(err, ErrInvalidCSeq) {
		t.Fatalf("equal CSeq after the window: %v", err)
	}
	// Refresh with max clamp.
	sr.CSeq = 2
	sr.Contacts = []ContactIn{{URI: "sip:bob@10.0.0.1", Expires: "99999"}}
	bs, _ = r.Save(ctx, sr)
	if r.Remaining(bs[0]) != 7200 {
		t.Errorf("max clamp: %d", r.Remaining(bs[0]))
	}
	// Lookup orders by q (missing q last).
	got, err := r.Lookup(ctx, "bob", "INVITE")
	if err != nil || got[0].Contact != "sip:bob@10.0.0.2" {
		t.Fatalf("lookup order: %+v %v", got, err)
	}
	// Expiry.
	now = now.Add(61 * time.Second)
	if n := r.Store.Expire(now); n != 1 {
		t.Errorf("expired %d, want 1", n)
	}
	// Bad inputs.
	for name, c := range map[string]SaveRequest{
		"q":        {AOR: "x", Expires: -1, Contacts: []ContactIn{{URI: "sip:x@h", Q: "1.5"}}},
		"expires":  {AOR: "x", Expires: -1, Contacts: []ContactIn{{URI: "sip:x@h", Expires: "-3"}}},
		"star exp": {AOR: "x", Expires: 5, Star: true},
		"star+c":   {AOR: "x", Expires: 0, Star: true, Contacts: []ContactIn{{URI: "sip:x@h"}}},
		"no aor":   {Expires: -1},
	} {
		if _, err := r.Save(ctx, c); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	// "*" with Expires 0 removes all.
	sr = SaveRequest{AOR: "bob", Expires: 0, Star: true, CallID: "c1", CSeq: 3}
	if bs, err := r.Save(ctx, sr); err != nil || len(bs) != 0 {
		t.Fatalf("star: %v %v", bs, err)
	}
	if _, err := r.Lookup(ctx, "bob", "INVITE"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after *: %v", err)
	}
}

func TestMethodFilter(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newReg(&now)
	ctx := context.Background()
	r.Save(ctx, SaveRequest{AOR: "a", Expires: -1, CallID: "c", CSeq: 1, Methods: []string{"INVITE", "BYE"},
		Contacts: []ContactIn{{URI: "sip:a@h"}}})
	if _, err := r.Lookup(ctx, "a", "MESSAGE"); !errors.Is(err, ErrMethodFiltered) {
		t.Fatalf("MESSAGE: %v", err)
	}
	if _, err := r.Lookup(ctx, "a", "INVITE"); err != nil {
		t.Fatalf("INVITE: %v", err)
	}
}

// TestMaxContacts: a REGISTER that would leave more bindings than
// MaxContacts is refused whole; one that removes as many as it adds, or
// only refreshes, passes.
func TestMaxContacts(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newReg(&now)
	r.Limits.MaxContacts = 2
	ctx := context.Background()
	save := func(cseq uint32, contacts ...ContactIn) error {
		_, err := r.Save(ctx, SaveRequest{AOR: "bob", Expires: -1, CallID: "c1", CSeq: cseq, Contacts: contacts})
		return err
	}
	if err := save(1, ContactIn{URI: "sip:bob@10.0.0.1"}, ContactIn{URI: "sip:bob@10.0.0.2"}); err != nil {
		t.Fatal(err)
	}
	if err := save(2, ContactIn{URI: "sip:bob@10.0.0.3"}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("a third contact: %v, want ErrTooMany", err)
	}
	if err := save(3, ContactIn{URI: "sip:bob@10.0.0.1"}); err != nil {
		t.Fatalf("a refresh: %v", err)
	}
	if err := save(4, ContactIn{URI: "sip:bob@10.0.0.1", Expires: "0"}, ContactIn{URI: "sip:bob@10.0.0.3"}); err != nil {
		t.Fatalf("one out, one in: %v", err)
	}
	bs, _ := r.Store.Get(ctx, "bob", now)
	if len(bs) != 2 || bs[0].Contact != "sip:bob@10.0.0.2" || bs[1].Contact != "sip:bob@10.0.0.3" {
		t.Fatalf("bindings %+v", bs)
	}
}
