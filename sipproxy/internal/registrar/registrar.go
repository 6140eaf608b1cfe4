package registrar

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Error is a registrar failure with the SIP reply sl_reply_error would send.
type Error struct {
	Code   int
	Reason string
	Info   string // P-Registrar-Error text, as Kamailio's registrar adds it; "" none
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Reason) }

// Sentinel failures (OpenSIPS/SER registrar rerrno), each with its reply.
var (
	ErrInvalidCSeq = &Error{400, "Invalid CSeq number", ""}
	ErrStarExpires = &Error{400, "* used in contact and expires is not zero", ""}
	ErrStarMore    = &Error{400, "* used in contact and more than 1 contact", ""}
	ErrInvalidQ    = &Error{400, "Invalid q parameter", ""}
	ErrInvalidExp  = &Error{400, "Invalid expires param in contact", ""}
	ErrNoAOR       = &Error{400, "No username in To URI", ""}
	ErrStore       = &Error{500, "Server Internal Error", ""}
	ErrTooMany     = &Error{503, "Service Unavailable", "Too many registered contacts"}
)

// Limits are the registrar's expires policy (seconds) and its contacts
// limit.
type Limits struct {
	Default int // used when neither the contact nor the request says
	Min     int // lower values are raised to Min (0: none)
	Max     int // higher values are lowered to Max (0: unlimited)
	// MaxContacts refuses a REGISTER that would leave an AOR with more
	// bindings (Kamailio's and OpenSIPS' max_contacts; 0: no limit).
	MaxContacts int
}

// ContactIn is one Contact of a REGISTER as the router parsed it.
type ContactIn struct {
	URI      string
	Q        string // raw q parameter, "" when absent
	Expires  string // raw expires parameter, "" when absent
	Instance string
}

// SaveRequest is everything save("location") needs from a REGISTER.
type SaveRequest struct {
	AOR       string
	Star      bool // Contact: *
	Contacts  []ContactIn
	Expires   int // Expires header, -1 when absent
	CallID    string
	CSeq      uint32
	Received  string
	Socket    string
	DstWS     bool
	Methods   []string
	UserAgent string
}

// RetransmitWindow is how long after a binding was written a REGISTER
// with the same Call-ID and the same CSeq counts as a retransmission of
// the one that wrote it (Kamailio's cseq_delay; here 64*T1, the lifetime
// a server transaction would have absorbed it in). REGISTER over UDP is
// answered without a transaction (as OpenSIPS' and Kamailio's save() do),
// so retransmissions reach the registrar.
const RetransmitWindow = 32 * time.Second

// Registrar implements save and lookup on a Store.
type Registrar struct {
	Store  Store
	Limits Limits
	Now    func() time.Time // nil: time.Now
}

func (r *Registrar) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Registrar) clamp(e int) int {
	if e == 0 {
		return 0
	}
	if r.Limits.Min > 0 && e < r.Limits.Min {
		e = r.Limits.Min
	}
	if r.Limits.Max > 0 && e > r.Limits.Max {
		e = r.Limits.Max
	}
	return e
}

// Save applies a REGISTER (RFC 3261 10.3 steps 6-8) and returns the
// bindings now current for the AOR. A failure is an *Error.
func (r *Registrar) Save(ctx context.Context, sr SaveRequest) ([]Binding, error) {
	if sr.AOR == "" {
		return nil, ErrNoAOR
	}
	now := r.now()
	if sr.Star {
		if len(sr.Contacts) > 0 {
			return nil, ErrStarMore
		}
		if sr.Expires != 0 {
			return nil, ErrStarExpires
		}
	}
	type change struct {
		in  ContactIn
		exp int
		q   float64
	}
	var changes []change
	for _, c := range sr.Contacts {
		exp := sr.Expires
		if c.Expires != "" {
			v, err := strconv.Atoi(c.Expires)
			if err != nil || v < 0 {
				return nil, ErrInvalidExp
			}
			exp = v
		}
		if exp < 0 {
			exp = r.Limits.Default
		}
		q := -1.0
		if c.Q != "" {
			v, err := strconv.ParseFloat(c.Q, 64)
			if err != nil || v < 0 || v > 1 {
				return nil, ErrInvalidQ
			}
			q = v
		}
		changes = append(changes, change{c, r.clamp(exp), q})
	}
	res, err := r.Store.Update(ctx, sr.AOR, now, func(cur []Binding) ([]Binding, error) {
		if sr.Star {
			for _, b := range cur {
				if b.CallID == sr.CallID && sr.CSeq <= b.CSeq {
					return nil, ErrInvalidCSeq
				}
			}
			return nil, nil
		}
		for _, ch := range changes {
			idx := -1
			for i, b := range cur {
				if b.Contact == ch.in.URI {
					idx = i
					break
				}
			}
			if idx >= 0 && cur[idx].CallID == sr.CallID && sr.CSeq <= cur[idx].CSeq {
				if sr.CSeq == cur[idx].CSeq && now.Sub(cur[idx].Updated) < RetransmitWindow {
					continue // retransmission: the binding already says what it asked
				}
				return nil, ErrInvalidCSeq
			}
			if ch.exp == 0 {
				if idx >= 0 {
					cur = append(cur[:idx], cur[idx+1:]...)
				}
				continue
			}
			b := Binding{
				AOR: sr.AOR, Contact: ch.in.URI, Q: ch.q,
				Expires: now.Add(time.Duration(ch.exp) * time.Second),
				CallID:  sr.CallID, CSeq: sr.CSeq, Received: sr.Received, Socket: sr.Socket,
				DstWS: sr.DstWS, Methods: sr.Methods, UserAgent: sr.UserAgent, Instance: ch.in.Instance,
				Updated: now,
			}
			if idx >= 0 {
				cur[idx] = b
			} else {
				cur = append(cur, b)
			}
		}
		// As Kamailio's test_max_contacts: the count the REGISTER would
		// leave, so even a refresh fails while over the limit.
		if m := r.Limits.MaxContacts; m > 0 && len(cur) > m {
			return nil, ErrTooMany
		}
		return cur, nil
	})
	if err != nil {
		var re *Error
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, ErrStore
	}
	return res, nil
}

// Remaining is the binding's expires value to report at now.
func (r *Registrar) Remaining(b Binding) int {
	d := b.Expires.Sub(r.now())
	if d < 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// ErrNotFound: no binding (lookup returns -1); ErrMethodFiltered: bindings
// exist but none allows the method (lookup returns -2).
var (
	ErrNotFound       = errors.New("no contact found")
	ErrMethodFiltered = errors.New("no contact allows the method")
)

// Lookup returns aor's bindings ordered by q (highest first, most recent
// first among equals), keeping only those whose Allow lists method.
func (r *Registrar) Lookup(ctx context.Context, aor, method string) ([]Binding, error) {
	bs, err := r.Store.Get(ctx, aor, r.now())
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", aor, err)
	}
	if len(bs) == 0 {
		return nil, ErrNotFound
	}
	out := bs[:0:0]
	for _, b := range bs {
		if allows(b.Methods, method) {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil, ErrMethodFiltered
	}
	sort.SliceStable(out, func(i, j int) bool {
		qi, qj := qOrder(out[i].Q), qOrder(out[j].Q)
		if qi != qj {
			return qi > qj
		}
		return out[i].Expires.After(out[j].Expires)
	})
	return out, nil
}

// qOrder sorts a missing q (-1, usrloc's Q_UNSPECIFIED) below every
// explicit value.
func qOrder(q float64) float64 { return q }

func allows(methods []string, m string) bool {
	if methods == nil {
		return true
	}
	for _, x := range methods {
		if strings.EqualFold(x, m) {
			return true
		}
	}
	return false
}
