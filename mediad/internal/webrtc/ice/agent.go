package ice

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v3"
)

// Errors returned by HandleSTUN; the caller drops the packet and counts it.
var (
	ErrMalformed      = errors.New("malformed STUN message")
	ErrAuth           = errors.New("STUN message failed authentication")
	ErrUnknownTx      = errors.New("STUN response for unknown transaction")
	ErrNoRemoteCreds  = errors.New("STUN response before remote credentials")
	ErrUnsupportedMsg = errors.New("unsupported STUN message")
)

// PacketWriter sends one datagram; *net.UDPConn implements it. The agent
// compares writers to tell sockets apart: use pointer types.
type PacketWriter interface {
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// Config configures an Agent. Zero durations take RFC defaults.
type Config struct {
	Local       Credentials
	Controlling bool
	// Lite makes an ICE-lite agent (RFC 8445 2.5; rtpengine's ICE-lite
	// option): it answers the peer's checks and takes its nomination but
	// sends no checks or consent requests of its own, and is always
	// controlled. Consent is then kept by the peer's checks.
	Lite      bool
	Component int // 1 for RTP (or muxed RTP+RTCP), 2 for RTCP
	// Software, if set, goes in every STUN message as its SOFTWARE
	// attribute (rtpengine's --software-id).
	Software string
	Writer   PacketWriter
	Log      *slog.Logger
	// OnSelected is called (without agent locks held) when a pair is
	// nominated, with the remote address media must go to.
	OnSelected func(remote netip.AddrPort)

	CheckInterval   time.Duration // pacing of connectivity checks (Ta); default 50ms
	MaxAttempts     int           // check retransmissions per pair; default 7
	ConsentInterval time.Duration // RFC 7675: default 5s (randomized ±20%)
	ConsentTimeout  time.Duration // RFC 7675: default 30s
}

// Route is where packets to the peer go: the selected pair's remote address
// and the local socket of that pair (nil: Config.Writer). The socket
// matters when a component is bound on several addresses: the peer checked
// and nominated one of them, and drops what comes from another.
type Route struct {
	Remote netip.AddrPort
	Via    PacketWriter
}

// Stats are cumulative counters of one agent.
type Stats struct {
	Requests, Responses, BadAuth, Malformed, RoleConflicts, ConsentLost uint64
}

type pairState uint8

const (
	pairWaiting pairState = iota
	pairInProgress
	pairSucceeded
	pairFailed
)

type txKind uint8

const (
	txCheck txKind = iota
	txNominate
	txConsent
)

type pair struct {
	remote   netip.AddrPort
	via      PacketWriter // where the peer last reached us from remote; nil: Config.Writer
	prio     uint32
	state    pairState
	attempts int
	nextSend time.Time
	nominate bool // controlling: the next checks carry USE-CANDIDATE
}

type tx struct {
	p    *pair
	kind txKind
	via  PacketWriter // the socket the request left from
	// controlling is the role the request announced: a 487 answer means
	// "take the other one", which an incoming request may already have
	// made us do.
	controlling bool
}

// Agent is a full ICE agent for one component of one media stream. All
// methods are safe for concurrent use; HandleSTUN is cheap and never blocks
// on the network beyond one non-blocking UDP send.
type Agent struct {
	cfg        Config
	log        *slog.Logger
	tiebreaker uint64

	reqs, resps, badAuth, malformed, conflicts, consentLost atomic.Uint64
	sel                                                     atomic.Pointer[Route]

	mu          sync.Mutex
	local       Credentials
	remote      Credentials
	controlling bool
	lite        bool
	checking    bool
	pairs       []*pair
	txs         map[[stun.TransactionIDSize]byte]tx
	selected    Route // nominated pair
	provisional Route // first authenticated peer, used until nomination
	lastConsent time.Time
	nextConsent time.Time
	lost        bool

	wake chan struct{}
}

// NewAgent creates an agent; call Run to drive its checks and consent.
func NewAgent(cfg Config) (*Agent, error) {
	if cfg.Writer == nil {
		return nil, errors.New("ice: Config.Writer is required")
	}
	if len(cfg.Local.Ufrag) < 4 || len(cfg.Local.Pwd) < 22 {
		return nil, errors.New("ice: local credentials too short")
	}
	if cfg.Component == 0 {
		cfg.Component = 1
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 50 * time.Millisecond
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 7
	}
	if cfg.ConsentInterval <= 0 {
		cfg.ConsentInterval = 5 * time.Second
	}
	if cfg.ConsentTimeout <= 0 {
		cfg.ConsentTimeout = 30 * time.Second
	}
	var tb [8]byte
	if _, err := rand.Read(tb[:]); err != nil {
		return nil, fmt.Errorf("ice tiebreaker: %w", err)
	}
	return &Agent{
		cfg:         cfg,
		log:         cfg.Log,
		tiebreaker:  binary.BigEndian.Uint64(tb[:]),
		local:       cfg.Local,
		controlling: cfg.Controlling && !cfg.Lite,
		lite:        cfg.Lite,
		txs:         make(map[[stun.TransactionIDSize]byte]tx),
		wake:        make(chan struct{}, 1),
	}, nil
}

// Stats returns the agent's counters.
func (a *Agent) Stats() Stats {
	return Stats{
		Requests: a.reqs.Load(), Responses: a.resps.Load(), BadAuth: a.badAuth.Load(),
		Malformed: a.malformed.Load(), RoleConflicts: a.conflicts.Load(), ConsentLost: a.consentLost.Load(),
	}
}

// LocalCredentials returns the credentials checks must use now.
func (a *Agent) LocalCredentials() Credentials {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.local
}

// Controlling reports the agent's current role.
func (a *Agent) Controlling() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.controlling
}

// SetControlling sets the role, e.g. after an offer/answer exchange
// decided it. An ICE-lite agent stays controlled.
func (a *Agent) SetControlling(c bool) {
	a.mu.Lock()
	a.controlling = c && !a.lite
	a.mu.Unlock()
}

// Lite reports whether the agent is an ICE-lite agent.
func (a *Agent) Lite() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lite
}

// SetLite switches ICE-lite mode (Config.Lite) on or off, e.g. when a
// re-offer changed it.
func (a *Agent) SetLite(lite bool) {
	a.mu.Lock()
	a.lite = lite
	if lite {
		a.controlling = false
		a.clearNominationLocked()
	}
	a.mu.Unlock()
	a.kick()
}

// Selected returns where media goes: the nominated pair's remote address,
// or before nomination the first peer that passed authentication. ok is
// false when there is none or consent was lost.
func (a *Agent) Selected() (netip.AddrPort, bool) {
	r, ok := a.SelectedRoute()
	return r.Remote, ok
}

// SelectedRoute is Selected with the local socket to send from.
func (a *Agent) SelectedRoute() (Route, bool) {
	p := a.sel.Load()
	if p == nil {
		return Route{}, false
	}
	return *p, true
}

// Nominated reports whether a pair has been nominated and consent holds.
func (a *Agent) Nominated() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.selected.Remote.IsValid() && !a.lost
}

// SetRemote installs the peer's credentials and candidates. New credentials
// differing from the previous ones are an ICE restart: checks start over
// while media keeps flowing on the old pair until a new one is nominated.
func (a *Agent) SetRemote(creds Credentials, cands []Candidate) {
	a.mu.Lock()
	if a.remote != creds {
		if a.remote.Ufrag != "" {
			a.log.Debug("ICE restart by peer", "ufrag", creds.Ufrag)
		}
		a.remote = creds
		a.restartLocked()
	}
	for _, c := range cands {
		a.addCandidateLocked(c)
	}
	a.mu.Unlock()
	a.kick()
}

// AddRemoteCandidate adds a trickled candidate.
func (a *Agent) AddRemoteCandidate(c Candidate) {
	a.mu.Lock()
	a.addCandidateLocked(c)
	a.mu.Unlock()
	a.kick()
}

// Restart switches to new local credentials (our ICE restart).
func (a *Agent) Restart(local Credentials) {
	a.mu.Lock()
	a.local = local
	a.restartLocked()
	a.mu.Unlock()
	a.kick()
}

func (a *Agent) restartLocked() {
	a.checking = true
	clear(a.txs)
	for _, p := range a.pairs {
		p.state, p.attempts, p.nominate = pairWaiting, 0, false
	}
}

func (a *Agent) addCandidateLocked(c Candidate) {
	if !c.usableUDP(a.cfg.Component) {
		return
	}
	addr := netip.AddrPortFrom(c.Addr.Addr().Unmap(), c.Addr.Port())
	if p := a.findLocked(addr); p != nil {
		if c.Priority > p.prio {
			p.prio = c.Priority
		}
		return
	}
	a.pairs = append(a.pairs, &pair{remote: addr, prio: c.Priority})
	sort.SliceStable(a.pairs, func(i, j int) bool { return a.pairs[i].prio > a.pairs[j].prio })
	a.checking = true
}

func (a *Agent) findLocked(addr netip.AddrPort) *pair {
	for _, p := range a.pairs {
		if p.remote == addr {
			return p
		}
	}
	return nil
}

func (a *Agent) kick() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Run drives connectivity checks, nomination and consent freshness until
// ctx is done.
func (a *Agent) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.wake:
		}
		d := a.tick(time.Now())
		t.Reset(d)
	}
}

// tick sends due checks and consent requests and returns the time until
// the next one is due.
func (a *Agent) tick(now time.Time) time.Duration {
	a.mu.Lock()
	next := time.Second
	due := func(t time.Time) {
		if d := t.Sub(now); d < next {
			next = max(d, time.Millisecond)
		}
	}
	if a.selected.Remote.IsValid() && !a.lost {
		if now.Sub(a.lastConsent) > a.cfg.ConsentTimeout {
			a.lost = true
			a.consentLost.Add(1)
			a.log.Info("ICE consent lost", "remote", a.selected.Remote)
			a.checking = true
			a.publishLocked()
		} else if a.lite {
			// The peer's checks keep consent; look again when it would
			// expire.
			due(a.lastConsent.Add(a.cfg.ConsentTimeout + time.Millisecond))
		} else {
			if !now.Before(a.nextConsent) {
				a.sendRequestLocked(a.selectedPairLocked(), txConsent, a.selected.Via)
				a.nextConsent = now.Add(jitter(a.cfg.ConsentInterval))
			}
			due(a.nextConsent)
		}
	}
	if a.checking && a.remote.Ufrag != "" && !a.lite {
		a.checkLocked(now, due)
	}
	a.mu.Unlock()
	return next
}

func (a *Agent) selectedPairLocked() *pair {
	if p := a.findLocked(a.selected.Remote); p != nil {
		return p
	}
	p := &pair{remote: a.selected.Remote}
	a.pairs = append(a.pairs, p)
	return p
}

func (a *Agent) checkLocked(now time.Time, due func(time.Time)) {
	var best *pair
	for _, p := range a.pairs {
		if p.state == pairSucceeded && best == nil {
			best = p
		}
		active := p.state == pairWaiting || p.state == pairInProgress || (p.state == pairSucceeded && p.nominate)
		if !active {
			continue
		}
		if p.attempts >= a.cfg.MaxAttempts {
			p.state, p.nominate = pairFailed, false
			continue
		}
		if now.Before(p.nextSend) {
			due(p.nextSend)
			continue
		}
		kind := txCheck
		if p.nominate {
			kind = txNominate
		}
		if !a.sendRequestLocked(p, kind, p.via) {
			p.state, p.nominate = pairFailed, false
			continue
		}
		if p.state == pairWaiting {
			p.state = pairInProgress
		}
		p.attempts++
		p.nextSend = now.Add(a.cfg.CheckInterval * time.Duration(1<<min(p.attempts, 5)))
		due(p.nextSend)
	}
	if a.controlling && best != nil && !a.nominatingLocked() {
		// Regular nomination: repeat the check on the best valid pair
		// with USE-CANDIDATE; its success selects the pair.
		best.nominate, best.attempts, best.nextSend = true, 0, now
		due(now)
	}
}

func (a *Agent) nominatingLocked() bool {
	for _, p := range a.pairs {
		if p.nominate {
			return true
		}
	}
	return false
}

// sendRequestLocked sends a Binding request on p from via (nil:
// Config.Writer); false if it could not be sent.
func (a *Agent) sendRequestLocked(p *pair, kind txKind, via PacketWriter) bool {
	if a.remote.Ufrag == "" {
		return false
	}
	setters := []stun.Setter{
		stun.TransactionID, stun.BindingRequest,
		stun.NewUsername(a.remote.Ufrag + ":" + a.local.Ufrag),
		rawAttr{stun.AttrPriority, be32(PrflxPriority(a.cfg.Component))},
	}
	if a.controlling {
		setters = append(setters, rawAttr{stun.AttrICEControlling, be64(a.tiebreaker)})
		if kind == txNominate {
			setters = append(setters, rawAttr{stun.AttrUseCandidate, nil})
		}
	} else {
		setters = append(setters, rawAttr{stun.AttrICEControlled, be64(a.tiebreaker)})
	}
	setters = append(a.software(setters), stun.NewShortTermIntegrity(a.remote.Pwd), stun.Fingerprint)
	m, err := stun.Build(setters...)
	if err != nil {
		return false
	}
	if _, err := a.writer(via).WriteToUDPAddrPort(m.Raw, p.remote); err != nil {
		a.log.Debug("ICE check send failed", "remote", p.remote, "err", err)
		return false
	}
	a.txs[m.TransactionID] = tx{p: p, kind: kind, via: via, controlling: a.controlling}
	return true
}

func (a *Agent) writer(via PacketWriter) PacketWriter {
	if via != nil {
		return via
	}
	return a.cfg.Writer
}

// HandleSTUN processes one STUN packet received from `from`. A non-nil
// error means the packet was dropped (and counted).
func (a *Agent) HandleSTUN(b []byte, from netip.AddrPort) error {
	return a.HandleSTUNOn(b, from, nil)
}

// HandleSTUNOn is HandleSTUN for a packet that arrived on the local socket
// on (nil: Config.Writer): the response leaves from it, and a pair the
// peer nominates there is selected with it.
func (a *Agent) HandleSTUNOn(b []byte, from netip.AddrPort, on PacketWriter) error {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := m.Decode(); err != nil {
		a.malformed.Add(1)
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if m.Type.Method != stun.MethodBinding {
		a.malformed.Add(1)
		return ErrUnsupportedMsg
	}
	if m.Contains(stun.AttrFingerprint) {
		if err := stun.Fingerprint.Check(m); err != nil {
			a.malformed.Add(1)
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	switch m.Type.Class {
	case stun.ClassRequest:
		return a.handleRequest(m, from, on)
	case stun.ClassSuccessResponse, stun.ClassErrorResponse:
		return a.handleResponse(m, from, on)
	default: // indications are keepalives
		return nil
	}
}

func (a *Agent) handleRequest(m *stun.Message, from netip.AddrPort, on PacketWriter) error {
	var user stun.Username
	if err := user.GetFrom(m); err != nil {
		a.badAuth.Add(1)
		return fmt.Errorf("%w: no USERNAME", ErrAuth)
	}
	var cb func(netip.AddrPort)
	a.mu.Lock()
	local := a.local
	if !strings.HasPrefix(user.String(), local.Ufrag+":") {
		a.mu.Unlock()
		a.badAuth.Add(1)
		return fmt.Errorf("%w: USERNAME %q", ErrAuth, user.String())
	}
	if err := stun.NewShortTermIntegrity(local.Pwd).Check(m); err != nil {
		a.mu.Unlock()
		a.badAuth.Add(1)
		return fmt.Errorf("%w: %w", ErrAuth, err)
	}
	a.reqs.Add(1)
	// Role conflict (RFC 8445 §7.3.1.1).
	if v, err := m.Get(stun.AttrICEControlling); err == nil && len(v) == 8 && a.controlling {
		a.conflicts.Add(1)
		if a.tiebreaker >= binary.BigEndian.Uint64(v) {
			a.mu.Unlock()
			return a.respond(m, from, on, local.Pwd, stun.CodeRoleConflict)
		}
		a.controlling = false
		a.clearNominationLocked()
	} else if v, err := m.Get(stun.AttrICEControlled); err == nil && len(v) == 8 && !a.controlling {
		a.conflicts.Add(1)
		if a.lite || a.tiebreaker < binary.BigEndian.Uint64(v) {
			// An ICE-lite agent never controls: the full peer must.
			a.mu.Unlock()
			return a.respond(m, from, on, local.Pwd, stun.CodeRoleConflict)
		}
		a.controlling = true
	}
	p := a.findLocked(from)
	if p == nil {
		prio := uint32(0)
		if v, err := m.Get(stun.AttrPriority); err == nil && len(v) == 4 {
			prio = binary.BigEndian.Uint32(v)
		}
		p = &pair{remote: from, prio: prio}
		a.pairs = append(a.pairs, p)
		a.checking = a.checking || !a.selected.Remote.IsValid()
	}
	if on != nil {
		p.via = on // our checks on this pair must reach the peer where it reached us
	}
	if p.state != pairSucceeded && p.state != pairInProgress {
		// Triggered check.
		p.state, p.attempts, p.nextSend = pairWaiting, 0, time.Time{}
	}
	if !a.provisional.Remote.IsValid() {
		a.provisional = Route{Remote: from, Via: on}
	}
	if m.Contains(stun.AttrUseCandidate) && !a.controlling && (a.selected != Route{Remote: from, Via: on} || a.lost || a.checking) {
		cb = a.selectLocked(from, on)
	} else if a.selected.Remote == from {
		// The peer's own consent checks on the selected pair.
		a.lastConsent = time.Now()
	}
	a.publishLocked()
	a.mu.Unlock()
	a.kick()
	err := a.respond(m, from, on, local.Pwd, 0)
	if cb != nil {
		cb(from)
	}
	return err
}

func (a *Agent) clearNominationLocked() {
	for _, p := range a.pairs {
		p.nominate = false
	}
}

// selectLocked nominates remote, reached from via, and returns the
// callback to run unlocked.
func (a *Agent) selectLocked(remote netip.AddrPort, via PacketWriter) func(netip.AddrPort) {
	now := time.Now()
	a.selected, a.lost = Route{Remote: remote, Via: via}, false
	a.lastConsent, a.nextConsent = now, now.Add(jitter(a.cfg.ConsentInterval))
	a.checking = false
	a.clearNominationLocked()
	a.publishLocked()
	a.log.Debug("ICE pair selected", "remote", remote, "controlling", a.controlling)
	return a.cfg.OnSelected
}

func (a *Agent) publishLocked() {
	switch {
	case a.selected.Remote.IsValid() && !a.lost:
		v := a.selected
		a.sel.Store(&v)
	case a.provisional.Remote.IsValid() && !a.selected.Remote.IsValid():
		v := a.provisional
		a.sel.Store(&v)
	default:
		a.sel.Store(nil)
	}
}

// software adds the SOFTWARE attribute, if any, to setters.
func (a *Agent) software(setters []stun.Setter) []stun.Setter {
	if a.cfg.Software == "" {
		return setters
	}
	return append(setters, stun.NewSoftware(a.cfg.Software))
}

// respond answers req from on, the socket it arrived on (nil: Config.Writer).
func (a *Agent) respond(req *stun.Message, to netip.AddrPort, on PacketWriter, pwd string, code stun.ErrorCode) error {
	setters := []stun.Setter{req, stun.BindingSuccess}
	if code != 0 {
		setters = []stun.Setter{req, stun.NewType(stun.MethodBinding, stun.ClassErrorResponse), code}
	} else {
		setters = append(setters, &stun.XORMappedAddress{IP: net.IP(to.Addr().AsSlice()), Port: int(to.Port())})
	}
	setters = append(a.software(setters), stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
	resp := &stun.Message{}
	if err := resp.Build(setters...); err != nil {
		return fmt.Errorf("build STUN response: %w", err)
	}
	if _, err := a.writer(on).WriteToUDPAddrPort(resp.Raw, to); err != nil {
		return fmt.Errorf("send STUN response: %w", err)
	}
	return nil
}

func (a *Agent) handleResponse(m *stun.Message, from netip.AddrPort, on PacketWriter) error {
	var cb func(netip.AddrPort)
	a.mu.Lock()
	t, ok := a.txs[m.TransactionID]
	if !ok {
		a.mu.Unlock()
		a.malformed.Add(1)
		return ErrUnknownTx
	}
	if a.remote.Pwd == "" {
		a.mu.Unlock()
		return ErrNoRemoteCreds
	}
	if err := stun.NewShortTermIntegrity(a.remote.Pwd).Check(m); err != nil {
		a.mu.Unlock()
		a.badAuth.Add(1)
		return fmt.Errorf("%w: %w", ErrAuth, err)
	}
	delete(a.txs, m.TransactionID)
	a.resps.Add(1)
	p := t.p
	if m.Type.Class == stun.ClassErrorResponse {
		var ec stun.ErrorCodeAttribute
		if ec.GetFrom(m) == nil && ec.Code == stun.CodeRoleConflict {
			// RFC 8445 §7.2.5.1: switch to the role opposite to the one
			// the request carried, if not already done (toggling would
			// undo a switch made for the peer's own request meanwhile).
			a.conflicts.Add(1)
			a.controlling = !t.controlling
			a.clearNominationLocked()
			p.state, p.attempts, p.nextSend = pairWaiting, 0, time.Time{}
			a.checking = true
		}
		a.mu.Unlock()
		a.kick()
		return nil
	}
	if from != p.remote {
		// Asymmetric response: the pair is not valid (RFC 8445 §7.2.5.2.1).
		a.mu.Unlock()
		return nil
	}
	if p.state != pairSucceeded {
		p.state = pairSucceeded
	}
	via := on
	if via == nil {
		via = t.via
	}
	if p.remote == a.selected.Remote {
		a.lastConsent = time.Now()
		if a.lost {
			a.lost = false
			a.publishLocked()
		}
	}
	if t.kind == txNominate && a.controlling {
		cb = a.selectLocked(p.remote, via)
	}
	if !a.provisional.Remote.IsValid() {
		a.provisional = Route{Remote: p.remote, Via: via}
		a.publishLocked()
	}
	a.mu.Unlock()
	a.kick()
	if cb != nil {
		cb(p.remote)
	}
	return nil
}

// rawAttr adds an attribute with a prebuilt value.
type rawAttr struct {
	t stun.AttrType
	v []byte
}

func (r rawAttr) AddTo(m *stun.Message) error {
	m.Add(r.t, r.v)
	return nil
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// jitter spreads d by ±20% so consent checks of many streams do not align.
func jitter(d time.Duration) time.Duration {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d)*2/5+1))
	if err != nil {
		return d
	}
	return d*4/5 + time.Duration(n.Int64())
}
