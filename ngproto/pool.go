package ngproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Backend is one daemon of a Pool.
type Backend struct {
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
}

// ErrNoBackend is returned when a Pool has no backend left to try.
var ErrNoBackend = errors.New("ngproto: no usable backend")

type poolBackend struct {
	Backend
	client *Client
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
		c, err := Dial(b.Addr, cfg.Client)
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
		idx = p.pickLocked(tried)
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
		next := p.pickLocked(tried)
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

// pickLocked chooses an untried backend by weight, preferring live ones.
func (p *Pool) pickLocked(tried []bool) int {
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
