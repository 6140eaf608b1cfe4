package call

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"sipmedia/mediad/internal/homer"
	"sipmedia/mediad/internal/ports"
	"sipmedia/mediad/internal/recording"
	"sipmedia/mediad/internal/webrtc/dtlssrtp"
)

// Interface is one address of a logical interface (rtpengine's
// -i [NAME/]IP[!ADVERTISED]). Several entries may share a Name.
type Interface struct {
	Name       string
	Address    netip.Addr
	Advertised netip.Addr // zero: Address
}

func (i Interface) advertised() netip.Addr {
	if i.Advertised.IsValid() {
		return i.Advertised
	}
	return i.Address
}

// Config is the part of the daemon configuration the registry uses. The
// zero value of every duration disables that timer.
type Config struct {
	Interfaces []Interface
	// Timeout deletes a call whose streams saw no packet (and no signal)
	// for this long (rtpengine -o, default 60s).
	Timeout time.Duration
	// OfferTimeout deletes a call that was offered but never answered
	// (rtpengine --offer-timeout, default 3600s).
	OfferTimeout time.Duration
	// SilentTimeout replaces Timeout for streams we do not receive from
	// (recvonly/inactive parties, no socket): rtpengine -s, default 3600s.
	// FinalTimeout deletes every call this long after its creation
	// (rtpengine -a; zero: never).
	SilentTimeout, FinalTimeout time.Duration
	// DeleteDelay is the default delay of a delete (rtpengine -d, 30s).
	DeleteDelay time.Duration
	// MaxSessions limits concurrent calls; 0 means unlimited (the daemon
	// maps rtpengine's -1 here, and rtpengine's 0 to RefuseNew).
	MaxSessions int
	// RefuseNew refuses every new call ("Parallel session limit reached").
	RefuseNew bool
	// MaxLoad, MaxCPU and MaxBandwidth refuse new calls while Load's load
	// average or CPU usage (percent), or the media bytes relayed per
	// second (userspace and kernel), reach them; 0: no limit.
	MaxLoad, MaxCPU float64
	MaxBandwidth    int64
	// Load samples the machine (package sysload); needed for MaxLoad and
	// MaxCPU.
	Load LoadSource
	// DTMFLog, if set, receives one JSON datagram per DTMF event a party
	// sends (rtpengine's --dtmf-log-dest); its writes must not block long.
	DTMFLog io.Writer
	// CDRLog, if set, receives each call's CDR line as it ends (one
	// Write each; rtpengine's --log-facility-cdr, see cdr.go).
	CDRLog io.Writer
	// RTCPLog, if set, receives a line per RTCP packet a party sends
	// (rtpengine's --log-facility-rtcp, package rtcp's LogLine); RTCP
	// then stays off the kernel fast path.
	RTCPLog io.Writer
	// SIPSource: use received-from instead of the SDP address unless the
	// request says trust-address (rtpengine --sip-source).
	SIPSource bool
	// DTLSCert is the DTLS certificate's key, signature and MTU
	// (rtpengine's --dtls-* options).
	DTLSCert dtlssrtp.CertOptions
	// MOS is rtpengine's --mos: MOSCQ ("" too) or MOSLQ.
	MOS string
	// RejectInvalidSDP is rtpengine's --reject-invalid-sdp: an empty
	// line in an SDP is an error, not its end (sdp.Options.Strict).
	RejectInvalidSDP bool
	// SoftwareID names the daemon to its peers (rtpengine's
	// --software-id): the s= of SDPs of its own making, the STUN
	// SOFTWARE attribute, the DTLS certificate's CN. "" is "mediad".
	SoftwareID string
	// LogSRTPKeys logs DTLS-SRTP keys at error (--log-srtp-keys).
	LogSRTPKeys bool
	// DTLSPassive and EndpointLearning are carried for the relay/WebRTC.
	DTLSPassive      bool
	EndpointLearning string
	// PortMin and PortMax are the media port range (for statistics).
	PortMin, PortMax int
	// Recording is where calls are recorded (rtpengine's --recording-dir;
	// nil: recording requests are refused with a logged error).
	Recording *recording.Spool
	// Homer, if set, is sent every RTCP packet of every call (rtpengine's
	// --homer); RTCP then stays off the kernel fast path.
	Homer *homer.Sender
	// TOS is the IP TOS (IPv6 traffic class) of media sent, unless an
	// offer's TOS key says otherwise (rtpengine -T; 0: the system's).
	TOS int
	// Tick is the timer resolution of Run (default 1s).
	Tick time.Duration
}

// LoadSource reports the machine's load (package sysload's Sampler).
type LoadSource interface {
	LoadAvg() float64
	CPUUsage() float64
}

// Allocator is what the registry needs from *ports.Allocator.
type Allocator interface {
	Allocate(addrs []netip.Addr) (*ports.Pair, error)
	AllocateOne(addrs []netip.Addr) (*ports.Pair, error)
	Release(p *ports.Pair)
	Recycle(p *ports.Pair)
	Sweep(now time.Time)
	Flush() int
	InUse() int
}

// Registry is the table of calls.
type Registry struct {
	// ifs holds the configured interface addresses by logical name, in
	// configuration order; shared, read-only.
	ifs   map[string][]Interface
	cfg   Config
	alloc Allocator
	log   *slog.Logger
	start time.Time

	// cert is the process's DTLS certificate (nil: none could be made,
	// and no DTLS is offered).
	cert *dtlssrtp.Certificate

	limits limitsBox // changeable at run time (limits.go)

	mu    sync.Mutex
	calls map[string]*Call

	counters Counters

	relay  *relayLink  // media plane (relay.go); nil: signalling only
	kernel *kernelLink // kernel fast path (kernel.go); nil: userspace only
}

// Counters are registry-wide totals for the statistics command and CLI.
type Counters struct {
	Managed       atomic.Uint64 // calls ever created
	Rejected      atomic.Uint64 // refused for the session limit
	Timeout       atomic.Uint64 // deleted by the media timeout
	OfferTimeout  atomic.Uint64 // deleted by the offer timeout
	SilentTimeout atomic.Uint64 // deleted by the silent timeout
	FinalTimeout  atomic.Uint64 // deleted by the final timeout
	Regular       atomic.Uint64 // deleted by a delete command
	Forced        atomic.Uint64 // terminated by CLI or shutdown
	// MOSSum, MOSSquares and MOSSamples add up the MOS values (times
	// 10) of every receiver report that gave one (mos.go).
	MOSSum, MOSSquares, MOSSamples atomic.Uint64
	TotalDurationNs                atomic.Int64 // summed durations of ended calls
	// TotalDurationSqMs2 sums the squared durations of ended calls in ms²
	// (for the standard deviation; a month-long call still fits).
	TotalDurationSqMs2 atomic.Uint64
	Ended              atomic.Uint64 // calls ended (the durations' count)
}

// NewRegistry builds a registry. alloc must not be nil.
func NewRegistry(cfg Config, alloc *ports.Allocator, log *slog.Logger) *Registry {
	return newRegistry(cfg, alloc, log)
}

func newRegistry(cfg Config, alloc Allocator, log *slog.Logger) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	certOpts := cfg.DTLSCert
	if certOpts.CommonName == "" {
		certOpts.CommonName = cfg.SoftwareID
	}
	cert, err := dtlssrtp.NewCertificateWith(certOpts)
	if err != nil {
		log.Error("no DTLS certificate, DTLS-SRTP disabled", "err", err)
	}
	ifs := make(map[string][]Interface)
	for _, i := range cfg.Interfaces {
		ifs[i.Name] = append(ifs[i.Name], i)
	}
	r := &Registry{cfg: cfg, alloc: alloc, log: log, start: time.Now(), calls: make(map[string]*Call), cert: cert, ifs: ifs}
	r.limits.l = limitsOf(cfg)
	return r
}

// software is the daemon's name toward peers (Config.SoftwareID).
func (r *Registry) software() string {
	if r.cfg.SoftwareID == "" {
		return "mediad"
	}
	return r.cfg.SoftwareID
}

// Config returns the registry's configuration.
func (r *Registry) Config() Config { return r.cfg }

// Counters returns the registry-wide counters.
func (r *Registry) Counters() *Counters { return &r.counters }

// Started is when the registry was created (uptime).
func (r *Registry) Started() time.Time { return r.start }

// lookup returns the call locked, or nil. A call found while being
// removed is skipped.
func (r *Registry) lookup(id string) *Call {
	for {
		r.mu.Lock()
		c := r.calls[id]
		r.mu.Unlock()
		if c == nil {
			return nil
		}
		c.mu.Lock()
		if !c.gone {
			return c
		}
		c.mu.Unlock()
	}
}

// lookupOrCreate returns the call locked, creating it if needed.
func (r *Registry) lookupOrCreate(id string, now time.Time) (*Call, bool, error) {
	for {
		r.mu.Lock()
		c := r.calls[id]
		created := false
		if c == nil {
			lim := r.Limits()
			if lim.MaxSessions >= 0 && len(r.calls) >= lim.MaxSessions {
				r.mu.Unlock()
				r.counters.Rejected.Add(1)
				return nil, false, ErrSessionLimit
			}
			if err := r.overloaded(lim); err != nil {
				r.mu.Unlock()
				return nil, false, err
			}
			c = &Call{ID: id, created: now, lastSignal: now, tos: r.cfg.TOS}
			r.calls[id] = c
			created = true
			r.counters.Managed.Add(1)
		}
		r.mu.Unlock()
		c.mu.Lock()
		if !c.gone {
			return c, created, nil
		}
		c.mu.Unlock()
	}
}

// destroyLocked removes a locked call from the registry and releases
// everything it holds. The caller unlocks c.mu afterwards.
func (r *Registry) destroyLocked(c *Call, reason string, now time.Time) {
	if c.gone {
		return
	}
	c.gone = true
	r.mu.Lock()
	if r.calls[c.ID] == c {
		delete(r.calls, c.ID)
	}
	r.mu.Unlock()
	c.terminateLocked(reason, now)
	r.cdrLocked(c)
	r.finishRecordingLocked(c, now)
	// Every party goes at once, so their sockets can go back warm (see
	// endRelay): first no stream forwards into another any more.
	warm := r.parkCall(c)
	for _, m := range c.monologues {
		for _, md := range m.Medias {
			r.releaseMediaAs(md, warm, true)
		}
	}
	c.monologues = nil
	r.counters.Ended.Add(1)
	d := now.Sub(c.created)
	r.counters.TotalDurationNs.Add(int64(d))
	ms := uint64(max(d.Milliseconds(), 0))
	r.counters.TotalDurationSqMs2.Add(ms * ms)
	if r.infoOn() {
		r.log.Info("call deleted", "call-id", c.ID, "reason", reason, "duration", d.Round(time.Millisecond))
	}
}

func (r *Registry) releaseMonologue(m *Monologue) {
	for _, md := range m.Medias {
		r.releaseMedia(md)
	}
}

// releaseMedia closes a media's sockets; its streams are replaced by
// socket-less ones that keep the endpoints (for statistics).
func (r *Registry) releaseMedia(md *Media) { r.releaseMediaAs(md, false, false) }

// releaseMediaAs is releaseMedia; with warm (the call's streams are all
// parked) the sockets may stay bound for the pair's next user; with gone
// (the call is being destroyed) the streams are dropped, not replaced.
func (r *Registry) releaseMediaAs(md *Media, warm, gone bool) {
	if md == nil || md.pair == nil {
		return
	}
	warm = endRelay(md, warm)
	for k, s := range md.Streams {
		if s != nil {
			s.SetForwarding(nil)
			if gone {
				md.Streams[k] = nil
			} else {
				md.Streams[k] = &Stream{RTCP: s.RTCP, Endpoint: s.Endpoint, Advertised: s.Advertised}
			}
		}
	}
	if warm {
		r.alloc.Recycle(md.pair)
	} else {
		r.alloc.Release(md.pair)
	}
	md.pair = nil
}

// removeMonologueLocked deletes one party of a call (a branch), as
// rtpengine 10.5's monologue_destroy: its sockets go and it stays listed
// for statistics; a party left with nobody else to talk to goes with it;
// the call goes once fewer than two tagged parties and no party with a
// via-branch remain (a fork's unanswered branch keeps the call).
func (r *Registry) removeMonologueLocked(c *Call, m *Monologue, now time.Time) {
	gone := []*Monologue{m}
	for _, x := range c.monologues {
		if x != m && !x.zombie && associated(x, m) && !hasLiveAssociate(x, m) {
			gone = append(gone, x)
		}
	}
	tagged, branches := 0, 0
	for _, x := range c.monologues {
		if x.zombie || slices.Contains(gone, x) {
			continue
		}
		if x.Tag != "" {
			tagged++
		}
		if x.ViaBranch != "" {
			branches++
		}
	}
	if tagged < 2 && branches == 0 {
		// The whole call goes (its sockets may stay warm).
		r.destroyLocked(c, "branch deleted", now)
		return
	}
	for _, x := range gone {
		r.zombieLocked(c, x)
	}
}

// zombieLocked releases m's sockets and keeps it for statistics only.
func (r *Registry) zombieLocked(c *Call, m *Monologue) {
	if m.pubsub {
		r.endSubscription(c, m) // its sources stop sending it copies first
	}
	r.releaseMonologue(m)
	m.zombie = true
	m.deleteAt = time.Time{}
	for _, x := range c.monologues {
		if x.peer == m {
			x.peer = nil
		}
	}
}

// associated reports whether x and m exchanged an offer or answer.
func associated(x, m *Monologue) bool {
	return slices.Contains(x.subscriptions, m) || slices.Contains(x.subscribers, m) ||
		slices.Contains(m.subscriptions, x) || slices.Contains(m.subscribers, x)
}

// hasLiveAssociate reports whether x has a party to talk to other than
// the one going (a subscription to x counts, as in rtpengine).
func hasLiveAssociate(x, going *Monologue) bool {
	for _, l := range [2][]*Monologue{x.subscriptions, x.subscribers} {
		for _, y := range l {
			if !y.zombie && y != going {
				return true
			}
		}
	}
	return false
}

// PortsInUse is the number of media ports currently bound.
func (r *Registry) PortsInUse() int { return r.alloc.InUse() }

// Len is the number of calls.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// List returns up to limit call-ids (all when limit <= 0), sorted.
func (r *Registry) List(limit int) []string {
	r.mu.Lock()
	ids := make([]string, 0, len(r.calls))
	for id := range r.calls {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	sort.Strings(ids)
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
	}
	return ids
}

func (r *Registry) snapshot() []*Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Call, 0, len(r.calls))
	for _, c := range r.calls {
		out = append(out, c)
	}
	return out
}

// Run drives the timers until ctx is done.
func (r *Registry) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.sweep(now)
		}
	}
}

// sweep applies delete-delay, offer timeout and media timeout at now.
func (r *Registry) sweep(now time.Time) {
	r.kernelTick(now) // kernel counters first: the media timeout reads them
	lim := r.Limits()
	for _, c := range r.snapshot() {
		c.mu.Lock()
		r.sweepCall(c, now, lim)
		c.mu.Unlock()
	}
	r.alloc.Sweep(now)
}

func (r *Registry) sweepCall(c *Call, now time.Time, lim Limits) {
	if c.gone {
		return
	}
	if lim.FinalTimeout > 0 && now.Sub(c.created) >= lim.FinalTimeout {
		r.counters.FinalTimeout.Add(1)
		r.destroyLocked(c, "final timeout", now)
		return
	}
	if !c.deleteAt.IsZero() && !now.Before(c.deleteAt) {
		r.counters.Regular.Add(1)
		r.destroyLocked(c, "delete delay expired", now)
		return
	}
	for _, m := range append([]*Monologue(nil), c.monologues...) {
		if !m.deleteAt.IsZero() && !now.Before(m.deleteAt) && !m.zombie {
			r.removeMonologueLocked(c, m, now)
			if c.gone {
				r.counters.Regular.Add(1)
				return
			}
		}
	}
	if !c.answered && lim.OfferTimeout > 0 && now.Sub(c.lastSignal) >= lim.OfferTimeout {
		r.counters.OfferTimeout.Add(1)
		r.destroyLocked(c, "offer timeout", now)
		return
	}
	r.pierceNATLocked(c)
	if c.answered {
		if reason, n := r.mediaTimeoutLocked(c, now, lim); n != nil {
			n.Add(1)
			r.destroyLocked(c, reason, now)
		}
	}
}

// Terminate deletes a call at once (CLI "terminate"). It reports whether
// the call existed.
func (r *Registry) Terminate(callID string) bool {
	c := r.lookup(callID)
	if c == nil {
		return false
	}
	defer c.mu.Unlock()
	r.counters.Forced.Add(1)
	r.destroyLocked(c, "terminated", time.Now())
	return true
}

// TerminateAll deletes every call and returns how many there were.
func (r *Registry) TerminateAll() int {
	n := 0
	for _, c := range r.snapshot() {
		c.mu.Lock()
		if !c.gone {
			r.counters.Forced.Add(1)
			r.destroyLocked(c, "terminated", time.Now())
			n++
		}
		c.mu.Unlock()
	}
	return n
}

// Close deletes every call, releasing all ports.
func (r *Registry) Close() {
	r.TerminateAll()
	r.alloc.Flush()
}

// interfaceAddrs returns the addresses of the named logical interface
// (the first configured name when name is empty or unknown). The slice
// is shared: callers must not modify it.
func (r *Registry) interfaceAddrs(name string) (string, []Interface) {
	if len(r.cfg.Interfaces) == 0 {
		return "", nil
	}
	if ifs, ok := r.ifs[name]; ok {
		return name, ifs
	}
	name = r.cfg.Interfaces[0].Name
	return name, r.ifs[name]
}

// allocate binds a port pair, or with one a single port, on the given
// interface addresses.
func (r *Registry) allocate(ifs []Interface, one bool) (*ports.Pair, error) {
	addrs := make([]netip.Addr, len(ifs))
	for i, x := range ifs {
		addrs[i] = x.Address
	}
	alloc := r.alloc.Allocate
	if one {
		alloc = r.alloc.AllocateOne
	}
	p, err := alloc(addrs)
	if err != nil {
		if errors.Is(err, ports.ErrExhausted) {
			return nil, fmt.Errorf("%w: %w", ErrNoPorts, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrNoPorts, err)
	}
	return p, nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// infoOn reports whether info logs are written: the signalling path checks
// it first so that a disabled level costs no argument allocations.
func (r *Registry) infoOn() bool { return r.log.Enabled(context.Background(), slog.LevelInfo) }

// overloaded checks the load limits in rtpengine's order (after
// max-sessions): load average, CPU usage, bandwidth. Like rtpengine it
// logs a warning and does not count the call as rejected.
func (r *Registry) overloaded(lim Limits) error {
	if l := r.cfg.Load; l != nil {
		if v := l.LoadAvg(); lim.MaxLoad > 0 && v >= lim.MaxLoad {
			r.log.Warn("load limit exceeded", "load", v, "max-load", lim.MaxLoad)
			return ErrLoadLimit
		}
		if v := l.CPUUsage(); lim.MaxCPU > 0 && v >= lim.MaxCPU {
			r.log.Warn("CPU usage limit exceeded", "cpu-percent", v, "max-cpu", lim.MaxCPU)
			return ErrCPULimit
		}
	}
	if lim.MaxBandwidth > 0 {
		if bw := r.RelayRates().Bytes + r.KernelRates().Bytes; bw >= uint64(lim.MaxBandwidth) {
			r.log.Warn("bandwidth limit exceeded", "bytes-per-second", bw, "max-bandwidth", lim.MaxBandwidth)
			return ErrBandwidthLimit
		}
	}
	return nil
}
