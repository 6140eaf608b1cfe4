// Package registrar owns the location table: bindings of an address of
// record to contacts with expiry, kept in memory behind the Store interface
// (a shared store can implement it later), and the save("location") and
// lookup("location","m") semantics on top of it.
package registrar

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"
)

// Binding is one registered contact, with what OpenSIPS' usrloc keeps.
type Binding struct {
	AOR       string    // address of record: the To user (usrloc use_domain=0)
	Contact   string    // contact URI as stored (after fix_nated_contact)
	Q         float64   // 0..1; -1 when the Contact had no q
	Expires   time.Time // absolute expiry
	CallID    string
	CSeq      uint32
	Received  string   // fix_nated_register: sip:ip:port;transport=x
	Socket    string   // receiving socket proto:ip:port
	DstWS     bool     // branch flag DST_WS
	Methods   []string // from Allow; nil: all methods
	UserAgent string
	Instance  string    // +sip.instance
	Updated   time.Time // when the REGISTER that wrote it was saved
}

// Store holds bindings. Implementations must be safe for concurrent use.
type Store interface {
	// Get returns the live bindings of aor (unexpired at now).
	Get(ctx context.Context, aor string, now time.Time) ([]Binding, error)
	// Update runs fn on the bindings of aor atomically and stores its result.
	Update(ctx context.Context, aor string, now time.Time, fn func([]Binding) ([]Binding, error)) ([]Binding, error)
	// All returns every live binding, sorted by AOR.
	All(ctx context.Context, now time.Time) ([]Binding, error)
	// Delete removes aor's bindings (contact "" removes all); it reports how many.
	Delete(ctx context.Context, aor, contact string) (int, error)
	// Expire drops bindings expired at now and reports how many.
	Expire(now time.Time) int
}

// MemStore is the in-memory Store.
type MemStore struct {
	mu      sync.Mutex // guards m and version
	m       map[string][]Binding
	version uint64 // counts changes, for the location file
}

// Version changes whenever the stored bindings do.
func (s *MemStore) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{m: map[string][]Binding{}} }

func live(bs []Binding, now time.Time) []Binding {
	out := bs[:0:0]
	for _, b := range bs {
		if b.Expires.After(now) {
			out = append(out, b)
		}
	}
	return out
}

// Get implements Store.
func (s *MemStore) Get(_ context.Context, aor string, now time.Time) ([]Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return live(s.m[aor], now), nil
}

// Update implements Store.
func (s *MemStore) Update(_ context.Context, aor string, now time.Time, fn func([]Binding) ([]Binding, error)) ([]Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := live(s.m[aor], now)
	next, err := fn(slices.Clone(cur))
	if err != nil {
		return cur, err
	}
	s.version++
	if len(next) == 0 {
		delete(s.m, aor)
	} else {
		s.m[aor] = next
	}
	return next, nil
}

// All implements Store.
func (s *MemStore) All(_ context.Context, now time.Time) ([]Binding, error) {
	s.mu.Lock()
	var out []Binding
	for _, bs := range s.m {
		out = append(out, live(bs, now)...)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].AOR != out[j].AOR {
			return out[i].AOR < out[j].AOR
		}
		return out[i].Contact < out[j].Contact
	})
	return out, nil
}

// Delete implements Store.
func (s *MemStore) Delete(_ context.Context, aor, contact string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bs := s.m[aor]
	s.version++
	if contact == "" {
		delete(s.m, aor)
		return len(bs), nil
	}
	keep := bs[:0:0]
	for _, b := range bs {
		if b.Contact != contact {
			keep = append(keep, b)
		}
	}
	n := len(bs) - len(keep)
	if len(keep) == 0 {
		delete(s.m, aor)
	} else {
		s.m[aor] = keep
	}
	return n, nil
}

// Expire implements Store.
func (s *MemStore) Expire(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	defer func() {
		if n > 0 {
			s.version++
		}
	}()
	for aor, bs := range s.m {
		l := live(bs, now)
		n += len(bs) - len(l)
		if len(l) == 0 {
			delete(s.m, aor)
		} else {
			s.m[aor] = l
		}
	}
	return n
}

// Count returns the number of stored bindings (expired ones included until
// the next Expire).
func (s *MemStore) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, bs := range s.m {
		n += len(bs)
	}
	return n
}

// RunExpiry calls Expire every interval until ctx ends.
func RunExpiry(ctx context.Context, s Store, interval time.Duration) {
	every(ctx, interval, func(now time.Time) { s.Expire(now) })
}

// every calls fn with the time every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func(now time.Time)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			fn(now)
		}
	}
}
