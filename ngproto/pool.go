package ngproto

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Backend is one daemon of a Pool.
type Backend struct {
	// Addr is "host:port" for NG over UDP, or a ws:// or wss:// URL
	// (WSClient).
	Addr   string
	Weight int // relative share of new calls; <= 0 counts as 1
}

// PoolConfig configures a Pool.
type PoolConfig struct {
	Client ClientConfig
	// PingInterval is how often every backend is pinged; default 10s,
	// negative disables health checks.
	PingInterval time.Duration
	// PingTimeout bounds one health ping; default 2s.
	PingTimeout time.Duration
	// StickyIdle forgets a call-id's backend after this long without a
	// request for it (the call's delete may have been lost); default 2h.
	StickyIdle time.Duration
	Logger     *slog.Logger
	// TLS configures wss:// backends (nil: the system's roots).
	TLS *tls.Config
}

// ErrNoBackend is returned when a Pool has no backend left to try.
var ErrNoBackend = errors.New("ngproto: no usable backend")

type poolBackend struct {
	Backend
	client Requester
	alive  bool // guarded by Pool.mu
}

type stickyEntry struct {
	backend int
	last    time.Time
}

// Pool spreads calls over several daemons: a call-id sticks to the
// backend that got its first request until a delete reply or idle expiry;
// new calls go to live backends by weight; a timeout or an overload
// reason fails a new call or an offer over to another backend.
//
// A new call's backend is chosen by weighted rendezvous hashing of its
// call-id over the backends' addresses, not at random: another proxy
// with the same backends, or this one after a restart, sends the call's
// later requests where its media is without having seen its offer. A
// request for a call the pool does not know that its backend answers with
// "Unknown call-id" (or a delete's not-found warning) is asked of the
// other backends too (the call may have failed over before a restart),
// and the first that knows the call keeps it.
type Pool struct {
	cfg      PoolConfig
	log      *slog.Logger
	backends []*poolBackend

	mu     sync.Mutex
	sticky map[string]stickyEntry

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// NewPool dials every backend and starts the health checker.
func NewPool(backends []Backend, cfg PoolConfig) (*Pool, error) {
	if len(backends) == 0 {
		return nil, fmt.Errorf("ngproto: new pool: %w", ErrNoBackend)
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 10 * time.Second
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = 2 * time.Second
	}
	if cfg.StickyIdle <= 0 {
		cfg.StickyIdle = 2 * time.Hour
	}
	p := &Pool{cfg: cfg, log: cfg.Logger, sticky: make(map[string]stickyEntry)}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for _, b := range backends {
		c, err := DialAny(b.Addr, cfg.Client, cfg.TLS)
		if err != nil {
			_ = p.Close()
			return nil, fmt.Errorf("ngproto: new pool: %w", err)
		}
		if b.Weight <= 0 {
			b.Weight = 1
		}
		p.backends = append(p.backends, &poolBackend{Backend: b, client: c, alive: true})
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(1)
	go p.maintain(ctx)
	return p, nil
}

// Close stops health checks and closes every backend's socket.
func (p *Pool) Close() error {
	var err error
	p.once.Do(func() {
		if p.cancel != nil {
			p.cancel()
		}
		p.wg.Wait()
		for _, b := range p.backends {
			err = errors.Join(err, b.client.Close())
		}
	})
	return err
}

// Alive reports the health of the backend with address addr.
func (p *Pool) Alive(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.backends {
		if b.Addr == addr {
			return b.alive
		}
	}
	return false
}

// AnyAlive reports whether some backend passed its last health check
// (backends count as alive until a check or a timeout says otherwise).
func (p *Pool) AnyAlive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.backends {
		if b.alive {
			return true
		}
	}
	return false
}

// BackendFor returns the address a call-id is stuck to, if any.
func (p *Pool) BackendFor(callID string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.sticky[callID]
	if !ok {
		return "", false
	}
	return p.backends[e.backend].Addr, true
}

// Do sends req to the call's backend (see Pool). Error replies that are
// not failover reasons are returned as the reply Dict.
func (p *Pool) Do(ctx context.Context, req Dict) (Dict, error) {
	callID := req.Str("call-id")
	cmd := req.Str("command")

	p.mu.Lock()
	idx, known := -1, false
	if callID != "" {
		if e, ok := p.sticky[callID]; ok {
			idx, known = e.backend, true
			// A call stays where its media is, unless a new offer can
			// re-create it elsewhere.
			if !p.backends[idx].alive && cmd == "offer" {
				idx = -1
			}
		}
	}
	tried := make([]bool, len(p.backends))
	if idx < 0 {
		idx = p.pickLocked(callID, tried)
	}
	p.mu.Unlock()
	if idx < 0 {
		return nil, ErrNoBackend
	}
	mayMove := !known || cmd == "offer"

	var lastErr error
	for {
		tried[idx] = true
		b := p.backends[idx]
		reply, err := b.client.Do(ctx, req)
		failover := false
		switch {
		case err == nil && IsFailoverReason(reply.ReplyError()):
			p.log.Warn("ngproto: backend overloaded", "backend", b.Addr, "call-id", callID, "reason", reply.ReplyError())
			failover = true
			lastErr = nil
		case errors.Is(err, ErrTimeout):
			p.log.Warn("ngproto: backend timeout", "backend", b.Addr, "call-id", callID, "command", cmd)
			p.setAlive(idx, false)
			failover = true
			lastErr = err
		case err != nil:
			return nil, err
		}
		if !failover {
			if !known && cmd != "offer" && callID != "" && unknownCall(reply) {
				if r, i, ok := p.findCall(ctx, req, callID, tried); ok {
					reply, idx = r, i
				}
			}
			p.remember(callID, cmd, idx, reply)
			return reply, nil
		}
		if !mayMove || ctx.Err() != nil {
			if lastErr != nil {
				return nil, lastErr
			}
			return reply, nil
		}
		p.mu.Lock()
		next := p.pickLocked(callID, tried)
		p.mu.Unlock()
		if next < 0 {
			if lastErr != nil {
				return nil, lastErr
			}
			return reply, nil
		}
		idx = next
	}
}

// remember updates call-id stickiness after a reply from backend idx.
func (p *Pool) remember(callID, cmd string, idx int, reply Dict) {
	if callID == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cmd == "delete" && reply.Result() == "ok" {
		delete(p.sticky, callID)
		return
	}
	if reply.Result() == "error" {
		// An error creates no call; keep an existing mapping only.
		if e, ok := p.sticky[callID]; ok {
			e.last = time.Now()
			p.sticky[callID] = e
		}
		return
	}
	p.sticky[callID] = stickyEntry{backend: idx, last: time.Now()}
}

// unknownCall: the reply says the backend holds no such call (an error
// for answer, query and the like, a warning for a delete).
func unknownCall(r Dict) bool {
	switch r.Result() {
	case "error":
		return r.ReplyError() == ErrUnknownCallID.Reason()
	case "ok":
		return r.Str("warning") == WarningCallNotFound
	}
	return false
}

// findCall asks the backends not tried yet, in the call's rendezvous
// order, for a call the first one did not know, and returns the first
// reply that knows it.
func (p *Pool) findCall(ctx context.Context, req Dict, callID string, tried []bool) (Dict, int, bool) {
	for ctx.Err() == nil {
		p.mu.Lock()
		idx := p.pickLocked(callID, tried)
		p.mu.Unlock()
		if idx < 0 {
			break
		}
		tried[idx] = true
		r, err := p.backends[idx].client.Do(ctx, req)
		if errors.Is(err, ErrTimeout) {
			p.setAlive(idx, false)
		}
		if err == nil && !unknownCall(r) && !IsFailoverReason(r.ReplyError()) {
			return r, idx, true
		}
	}
	return nil, -1, false
}

// pickLocked chooses an untried backend, preferring live ones: for a
// call-id the highest rendezvous score, else at random by weight.
func (p *Pool) pickLocked(callID string, tried []bool) int {
	if callID != "" {
		for _, wantAlive := range []bool{true, false} {
			best, bestScore := -1, 0.0
			for i, b := range p.backends {
				if tried[i] || b.alive != wantAlive {
					continue
				}
				if sc := rendezvous(callID, b.Addr, b.Weight); best < 0 || sc > bestScore {
					best, bestScore = i, sc
				}
			}
			if best >= 0 {
				return best
			}
		}
		return -1
	}
	for _, wantAlive := range []bool{true, false} {
		total := 0
		for i, b := range p.backends {
			if !tried[i] && b.alive == wantAlive {
				total += b.Weight
			}
		}
		if total == 0 {
			continue
		}
		n := rand.IntN(total)
		for i, b := range p.backends {
			if tried[i] || b.alive != wantAlive {
				continue
			}
			if n < b.Weight {
				return i
			}
			n -= b.Weight
		}
	}
	return -1
}

// rendezvous is backend addr's weighted rendezvous score for callID:
// w / -ln(u), u uniform in (0, 1) from a hash of both, so that the
// highest score falls on each backend in proportion to its weight and on
// the same one wherever it is computed. The hash is FNV-1a (fixed, unlike
// maphash's per-process seed) finished by splitmix64's mixer, which
// spreads call-ids that differ in a few characters.
func rendezvous(callID, addr string, w int) float64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < len(callID); i++ {
		h = (h ^ uint64(callID[i])) * prime
	}
	h = (h ^ 0xff) * prime // separator: ("ab","c") and ("a","bc") differ
	for i := 0; i < len(addr); i++ {
		h = (h ^ uint64(addr[i])) * prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	u := (float64(h>>11) + 0.5) / (1 << 53)
	return float64(w) / -math.Log(u)
}

func (p *Pool) setAlive(idx int, alive bool) {
	p.mu.Lock()
	changed := p.backends[idx].alive != alive
	p.backends[idx].alive = alive
	p.mu.Unlock()
	if changed {
		p.log.Info("ngproto: backend health changed", "backend", p.backends[idx].Addr, "alive", alive)
	}
}

// maintain pings backends and expires idle call-ids until ctx ends.
func (p *Pool) maintain(ctx context.Context) {
	defer p.wg.Done()
	interval := p.cfg.PingInterval
	if interval < 0 {
		interval = time.Minute // still expire idle calls
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if p.cfg.PingInterval > 0 {
			p.pingAll(ctx)
		}
		p.expire(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Pool) pingAll(ctx context.Context) {
	var wg sync.WaitGroup
	for i, b := range p.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, p.cfg.PingTimeout)
			defer cancel()
			err := b.client.Ping(pctx)
			if ctx.Err() != nil {
				return // shutting down: not a health verdict
			}
			p.setAlive(i, err == nil)
		}()
	}
	wg.Wait()
}

func (p *Pool) expire(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, e := range p.sticky {
		if now.Sub(e.last) > p.cfg.StickyIdle {
			delete(p.sticky, id)
		}
	}
}
