package webrtc

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/dtls/v3"
	"github.com/pion/srtp/v3"

	"sipmedia/mediad/internal/webrtc/dtlssrtp"
	"sipmedia/mediad/internal/webrtc/ice"
	"sipmedia/mediad/internal/webrtc/sdes"
)

// Config configures an Endpoint for one component of one stream.
type Config struct {
	// Writer sends on the component's socket: the relay's stream. With
	// several local sockets set Sockets instead (Writer is then unused).
	Writer ice.PacketWriter
	// Sockets are the component's local sockets when there are several;
	// the relay calls Via(i) for packets received on Sockets[i].
	Sockets []Socket
	// Local is the socket's address (informational for DTLS).
	Local     netip.AddrPort
	Component int // 1 = RTP (or muxed), 2 = RTCP
	Log       *slog.Logger
	// ICE enables the ICE agent with these local credentials and role.
	ICE *ICEConfig
	// Software is the STUN messages' SOFTWARE attribute ("" = none).
	Software string
	// LogKeys logs the SRTP keys a DTLS handshake yields at error
	// instead of debug (rtpengine's --log-srtp-keys).
	LogKeys bool
	// Plain lets unencrypted RTP through until (unless) keys are set:
	// for ICE toward a plain RTP/AVP peer.
	Plain bool
}

// ICEConfig enables ICE on an endpoint.
type ICEConfig struct {
	Local       ice.Credentials
	Controlling bool
	Lite        bool // an ICE-lite agent (ice.Config.Lite)
}

// DTLSParams starts DTLS-SRTP on an endpoint.
type DTLSParams struct {
	Cert     *dtlssrtp.Certificate
	Role     dtlssrtp.Role
	Remote   dtlssrtp.Fingerprint
	Profiles []srtp.ProtectionProfile // nil: dtlssrtp.DefaultProfiles
	// PeerTLSID is the party's a=tls-id; a change means a new association.
	PeerTLSID string
}

// same reports whether q describes the association p already runs: a
// re-INVITE must not restart DTLS (rtpengine issue #2156).
func (p DTLSParams) same(q DTLSParams) bool {
	return p.Cert == q.Cert && p.Role == q.Role && p.PeerTLSID == q.PeerTLSID &&
		p.Remote.String() == q.Remote.String()
}

// Endpoint is the media-side termination of one component. It implements
// Transform; create it with NewEndpoint, start it with Start and release it
// with Close.
type Endpoint struct {
	cfg    Config
	log    *slog.Logger
	agent  *ice.Agent // nil without ICE
	router *router
	// on is the socket Inbound's packets arrived on: the only one, or nil
	// (unknown) with several, whose packets come through Via.
	on ice.PacketWriter
	c  counters

	crypto   atomic.Pointer[cryptoState]
	peer     atomic.Pointer[netip.AddrPort] // explicit peer without ICE (SetPeer)
	hint     atomic.Pointer[netip.AddrPort] // signalled address, for DTLS only
	dtlsFrom atomic.Pointer[netip.AddrPort]
	dtls     atomic.Pointer[dtlssrtp.Session]
	// early is the last DTLS datagram that arrived before the session
	// existed (a browser's ClientHello racing the SDP answer through the
	// proxy); a new server session starts with it instead of waiting a
	// second for the retransmission.
	early atomic.Pointer[[]byte]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	pendingDTLS *DTLSParams // client waiting for an ICE pair
	curDTLS     *DTLSParams // association running (or pending)
	curSDES     [2]sdes.Crypto
	closed      bool
}

var _ Transform = (*Endpoint)(nil)

// NewEndpoint creates an endpoint. It does nothing until Start.
func NewEndpoint(cfg Config) (*Endpoint, error) {
	if len(cfg.Sockets) == 0 {
		if cfg.Writer == nil {
			return nil, errors.New("webrtc: Config.Writer or Sockets is required")
		}
		cfg.Sockets = []Socket{{Local: cfg.Local, Writer: cfg.Writer}}
	}
	if cfg.Component == 0 {
		cfg.Component = 1
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	e := &Endpoint{cfg: cfg, log: cfg.Log, router: &router{sockets: cfg.Sockets}}
	if len(cfg.Sockets) == 1 {
		e.on = cfg.Sockets[0].Writer
	}
	if cfg.ICE != nil {
		iceLog := cfg.Log
		if iceLog != nil { // rtpengine's "ice" log subsystem
			iceLog = iceLog.With("component", "ice")
		}
		a, err := ice.NewAgent(ice.Config{
			Local: cfg.ICE.Local, Controlling: cfg.ICE.Controlling, Lite: cfg.ICE.Lite, Component: cfg.Component,
			Software: cfg.Software, Writer: e.router, Log: iceLog, OnSelected: e.onSelected,
		})
		if err != nil {
			return nil, fmt.Errorf("webrtc endpoint: %w", err)
		}
		e.agent = a
	}
	return e, nil
}

// Start launches the endpoint's background work (ICE checks and consent)
// under ctx; Close stops it.
func (e *Endpoint) Start(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx != nil {
		return
	}
	e.ctx, e.cancel = context.WithCancel(ctx)
	if e.agent != nil {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.agent.Run(e.ctx)
		}()
	}
}

// ICE returns the endpoint's agent, nil without ICE.
func (e *Endpoint) ICE() *ice.Agent { return e.agent }

// Stats returns the endpoint's counters (ICE's own are in ICE().Stats()).
func (e *Endpoint) Stats() Stats {
	s := e.c.snapshot()
	if d := e.dtls.Load(); d != nil {
		s.DTLSDropped += d.Drops()
	}
	return s
}

// SetPeer sets the signalled peer address used when there is no ICE.
func (e *Endpoint) SetPeer(addr netip.AddrPort) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	e.peer.Store(&addr)
}

// SetDTLSHint gives the signalled peer address (from SDP) for an endpoint
// without ICE: the DTLS client sends its ClientHello there until the peer
// has sent something. Unlike SetPeer it does not override the relay's
// learned address for media.
func (e *Endpoint) SetDTLSHint(addr netip.AddrPort) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	e.hint.Store(&addr)
}

// Peer implements Transform.
func (e *Endpoint) Peer() (netip.AddrPort, bool) {
	r, ok := e.route()
	return r.Remote, ok
}

// route is where packets to the peer go: ICE's selected pair, else the
// explicit peer (SetPeer).
func (e *Endpoint) route() (ice.Route, bool) {
	if e.agent != nil {
		return e.agent.SelectedRoute()
	}
	if p := e.peer.Load(); p != nil {
		return ice.Route{Remote: *p}, true
	}
	return ice.Route{}, false
}

// write sends b along r: from the pair's socket when ICE knows it, else
// from the socket the router picks for the address.
func (e *Endpoint) write(b []byte, r ice.Route) error {
	var err error
	if r.Via != nil {
		_, err = r.Via.WriteToUDPAddrPort(b, r.Remote)
	} else {
		_, err = e.router.WriteToUDPAddrPort(b, r.Remote)
	}
	return err
}

// SetSDES installs SDES keys: local is our a=crypto line (we encrypt with
// it), remote the peer's.
func (e *Endpoint) SetSDES(local, remote sdes.Crypto) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.Secure() && sameCrypto(e.curSDES[0], local) && sameCrypto(e.curSDES[1], remote) {
		return nil // unchanged keys: keep ROC and replay state
	}
	e.curSDES = [2]sdes.Crypto{local, remote}
	profile, keys, err := sdes.SessionKeys(local, remote)
	if err != nil {
		return fmt.Errorf("webrtc SDES: %w", err)
	}
	var o CryptoOptions
	o.UnencryptedSRTP, o.UnencryptedSRTCP = remote.Unencrypted()
	return e.SetKeys(profile, keys, o)
}

func sameCrypto(a, b sdes.Crypto) bool {
	return a.Tag == b.Tag && a.Suite == b.Suite && string(a.Key) == string(b.Key)
}

// SetKeys installs SRTP keys directly.
func (e *Endpoint) SetKeys(profile srtp.ProtectionProfile, keys srtp.SessionKeys, o CryptoOptions) error {
	st, err := newCryptoState(profile, keys, o)
	if err != nil {
		return err
	}
	e.crypto.Store(st)
	return nil
}

// Secure reports whether SRTP keys are installed.
func (e *Endpoint) Secure() bool { return e.crypto.Load() != nil }

// StartDTLS begins a DTLS association (replacing any previous one). As
// server it waits for the peer's ClientHello; as client with ICE it sends
// the ClientHello once a pair is selected.
func (e *Endpoint) StartDTLS(p DTLSParams) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx == nil || e.closed {
		return errors.New("webrtc: endpoint not started")
	}
	if e.curDTLS != nil && e.curDTLS.same(p) {
		if s := e.dtls.Load(); s == nil || !failed(s) {
			return nil
		}
	}
	e.curDTLS = &p
	if p.Role == dtlssrtp.RoleClient && e.agent != nil && !e.agent.Nominated() {
		e.pendingDTLS = &p
		return nil
	}
	return e.startDTLSLocked(p)
}

func failed(s *dtlssrtp.Session) bool {
	select {
	case <-s.Done():
		_, err := s.Result()
		return err != nil
	default:
		return false
	}
}

func (e *Endpoint) onSelected(netip.AddrPort) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.pendingDTLS; p != nil && !e.closed {
		e.pendingDTLS = nil
		if err := e.startDTLSLocked(*p); err != nil {
			e.log.Info("DTLS start failed", "err", err)
		}
	}
}

func (e *Endpoint) startDTLSLocked(p DTLSParams) error {
	var profiles []dtls.SRTPProtectionProfile
	for _, pr := range p.Profiles {
		profiles = append(profiles, dtls.SRTPProtectionProfile(pr))
	}
	s, err := dtlssrtp.Start(e.ctx, dtlssrtp.Config{
		Cert: p.Cert, Role: p.Role, Remote: p.Remote, Profiles: profiles,
		Send: e.sendDTLS, Local: e.cfg.Local, Log: e.log,
	})
	if err != nil {
		return fmt.Errorf("webrtc DTLS: %w", err)
	}
	if old := e.dtls.Swap(s); old != nil {
		old.Close()
	}
	if early := e.early.Swap(nil); early != nil {
		if p.Role == dtlssrtp.RoleServer {
			s.Feed(*early)
			e.c.dtlsIn.Add(1)
		} else {
			e.c.dtlsDropped.Add(1)
		}
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		select {
		case <-s.Done():
		case <-e.ctx.Done():
			return
		}
		keys, err := s.Result()
		if err != nil || e.dtls.Load() != s {
			return
		}
		e.logKeys(keys)
		if err := e.SetKeys(keys.Profile, keys.SessionKeys, CryptoOptions{}); err != nil {
			e.log.Info("SRTP setup failed", "err", err)
		}
	}()
	return nil
}

// logKeys logs a DTLS handshake's SRTP keys, as rtpengine's
// crypto_dump_keys: incoming (what the peer encrypts with), outgoing,
// base64, at debug or (LogKeys) error, in the srtp log subsystem.
func (e *Endpoint) logKeys(k dtlssrtp.Keys) {
	level := slog.LevelDebug
	if e.cfg.LogKeys {
		level = slog.LevelError
	}
	log := e.log.With("component", "srtp")
	if !log.Enabled(e.ctx, level) {
		return
	}
	suite, _ := sdes.SuiteOfProfile(k.Profile)
	b64 := base64.StdEncoding.EncodeToString
	log.Log(e.ctx, level, "SRTP keys", "suite", suite.Name,
		"in-key", b64(k.RemoteMasterKey), "in-salt", b64(k.RemoteMasterSalt),
		"out-key", b64(k.LocalMasterKey), "out-salt", b64(k.LocalMasterSalt))
}

// DTLSVerified reports whether a DTLS handshake completed, which checks
// the peer's certificate against its a=fingerprint.
func (e *Endpoint) DTLSVerified() bool {
	s := e.dtls.Load()
	if s == nil {
		return false
	}
	_, err := s.Result()
	return err == nil
}

// DTLSDone is closed when the current DTLS handshake finished; nil if none.
func (e *Endpoint) DTLSDone() <-chan struct{} {
	if s := e.dtls.Load(); s != nil {
		return s.Done()
	}
	return nil
}

func (e *Endpoint) sendDTLS(b []byte) error {
	r, ok := e.route()
	if !ok {
		p := e.dtlsFrom.Load()
		if p == nil {
			p = e.hint.Load()
		}
		if p == nil {
			return ErrNoPeer
		}
		r = ice.Route{Remote: *p}
	}
	return e.write(b, r)
}

// Inbound implements Transform.
func (e *Endpoint) Inbound(buf []byte, n int, from netip.AddrPort) ([]byte, bool) {
	return e.inbound(buf, n, from, e.on)
}

// inbound is Inbound for a packet that arrived on socket on (nil: unknown).
func (e *Endpoint) inbound(buf []byte, n int, from netip.AddrPort, on ice.PacketWriter) ([]byte, bool) {
	b := buf[:n]
	switch classify(b) {
	case classSTUN:
		if e.agent == nil {
			e.c.stunBad.Add(1)
			return nil, false
		}
		if err := e.agent.HandleSTUNOn(b, from, on); err != nil {
			e.c.stunBad.Add(1)
			return nil, false
		}
		e.c.stunIn.Add(1)
		return nil, false
	case classDTLS:
		if e.agent != nil {
			// With ICE, DTLS is only accepted from the authenticated pair.
			if sel, ok := e.agent.Selected(); !ok || sel != netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) {
				e.c.dtlsDropped.Add(1)
				return nil, false
			}
		} else if on != nil && len(e.router.sockets) > 1 {
			// Without ICE, the peer's DTLS tells which of our sockets it
			// talks to. (With ICE the agent keeps the socket with each
			// pair: learning per address let a late check on another
			// socket move the selected pair's DTLS and media there.)
			e.router.learn(netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), on)
		}
		s := e.dtls.Load()
		if s == nil {
			if b[0] == 22 { // handshake record: keep it for the session to come
				cp := append([]byte(nil), b...)
				if e.early.Swap(&cp) != nil {
					e.c.dtlsDropped.Add(1) // the older one is superseded
				}
				e.c.dtlsEarly.Add(1)
				if p := e.dtlsFrom.Load(); p == nil || *p != from {
					src := from
					e.dtlsFrom.Store(&src)
				}
				return nil, false
			}
			e.c.dtlsDropped.Add(1)
			return nil, false
		}
		if p := e.dtlsFrom.Load(); p == nil || *p != from {
			src := from // a copy, so that only this rare path allocates
			e.dtlsFrom.Store(&src)
		}
		if s.Feed(b) {
			e.c.dtlsIn.Add(1)
		}
		return nil, false
	case classRTP:
		st := e.crypto.Load()
		if st == nil {
			if e.cfg.Plain {
				return b, true
			}
			e.c.noKeys.Add(1)
			return nil, false
		}
		out, rtcpPkt, err := st.decrypt(b)
		if err != nil {
			if isReplay(err) {
				e.c.replay.Add(1)
			} else {
				e.c.authFail.Add(1)
			}
			return nil, false
		}
		if rtcpPkt {
			e.c.srtcpIn.Add(1)
		} else {
			e.c.srtpIn.Add(1)
		}
		return out, true
	}
	e.c.unknown.Add(1)
	return nil, false
}

// Outbound implements Transform.
func (e *Endpoint) Outbound(dst, plain []byte) ([]byte, error) {
	st := e.crypto.Load()
	if st == nil {
		if e.cfg.Plain {
			return plain, nil
		}
		e.c.outFail.Add(1)
		return nil, ErrNotReady
	}
	out, rtcpPkt, err := st.encrypt(dst, plain)
	if err != nil {
		e.c.outFail.Add(1)
		return nil, fmt.Errorf("srtp encrypt: %w", err)
	}
	if rtcpPkt {
		e.c.srtcpOut.Add(1)
	} else {
		e.c.srtpOut.Add(1)
	}
	return out, nil
}

// Close stops ICE and DTLS and waits for their goroutines.
func (e *Endpoint) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	cancel := e.cancel
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if s := e.dtls.Load(); s != nil {
		s.Close()
	}
	e.wg.Wait()
}
