package dtlssrtp

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/srtp/v3"
)

// Errors of a DTLS session.
var (
	ErrFingerprintMismatch = errors.New("peer certificate does not match a=fingerprint")
	ErrNoSRTPProfile       = errors.New("DTLS handshake negotiated no SRTP profile")
)

// Keys are the SRTP profile and master keys exported from a handshake.
type Keys struct {
	Profile srtp.ProtectionProfile
	srtp.SessionKeys
}

// DefaultProfiles is the SRTP profile preference used in use_srtp:
// AES-128-GCM first (cheapest per packet), then the mandatory CM_80.
var DefaultProfiles = []dtls.SRTPProtectionProfile{
	dtls.SRTP_AEAD_AES_128_GCM,
	dtls.SRTP_AES128_CM_HMAC_SHA1_80,
	dtls.SRTP_AEAD_AES_256_GCM,
	dtls.SRTP_AES128_CM_HMAC_SHA1_32,
}

// Config configures one DTLS association.
type Config struct {
	Cert *Certificate
	Role Role
	// Remote is the peer's a=fingerprint; the handshake fails unless the
	// peer's certificate matches it.
	Remote   Fingerprint
	Profiles []dtls.SRTPProtectionProfile // default DefaultProfiles
	// Send transmits one DTLS datagram to the current peer.
	Send  func([]byte) error
	Local netip.AddrPort
	Log   *slog.Logger
	// HandshakeTimeout bounds the handshake; default 30s.
	HandshakeTimeout time.Duration
	// QueueDepth is the number of undelivered inbound datagrams kept; default 32.
	QueueDepth int
}

// Session is one DTLS association on one media component.
type Session struct {
	cfg    Config
	conn   *vconn
	dc     *dtls.Conn
	done   chan struct{}
	stop   context.CancelFunc
	wg     sync.WaitGroup
	keys   Keys
	err    error
	drops  atomic.Uint64
	closed atomic.Bool
}

// Start begins the handshake in the background: as client it sends the
// ClientHello at once, as server it waits for one. Done is closed when the
// handshake finished (Result tells how); the session then keeps answering
// retransmissions until Close.
func Start(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.Cert == nil || cfg.Send == nil {
		return nil, errors.New("dtlssrtp: Cert and Send are required")
	}
	if cfg.Role != RoleClient && cfg.Role != RoleServer {
		return nil, errors.New("dtlssrtp: no role")
	}
	if len(cfg.Profiles) == 0 {
		cfg.Profiles = DefaultProfiles
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 30 * time.Second
	}
	if cfg.QueueDepth <= 0 {
		cfg.QueueDepth = 32
	}
	remote := cfg.Remote
	shared := []dtls.Option{
		dtls.WithCertificates(cfg.Cert.TLS),
		dtls.WithSRTPProtectionProfiles(cfg.Profiles...),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithInsecureSkipVerify(true), // self-signed: trust comes from a=fingerprint
		dtls.WithVerifyPeerCertificate(func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !remote.Matches(raw[0]) {
				return ErrFingerprintMismatch
			}
			return nil
		}),
	}
	if mtu := cfg.Cert.mtu(cfg.Local); mtu > 0 {
		shared = append(shared, dtls.WithMTU(mtu))
	}
	s := &Session{cfg: cfg, conn: newVConn(cfg.Local, cfg.Send, cfg.QueueDepth), done: make(chan struct{})}
	var (
		c   *dtls.Conn
		err error
	)
	if cfg.Role == RoleClient {
		opts := make([]dtls.ClientOption, 0, len(shared))
		for _, o := range shared {
			opts = append(opts, o)
		}
		c, err = dtls.ClientWithOptions(s.conn, s.conn.peer, opts...)
	} else {
		opts := make([]dtls.ServerOption, 0, len(shared)+1)
		for _, o := range shared {
			opts = append(opts, o)
		}
		opts = append(opts, dtls.WithClientAuth(dtls.RequireAnyClientCert))
		c, err = dtls.ServerWithOptions(s.conn, s.conn.peer, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("dtls %s: %w", cfg.Role, err)
	}
	s.dc = c
	ctx, s.stop = context.WithCancel(ctx)
	s.wg.Add(1)
	go s.run(ctx, c)
	return s, nil
}

func (s *Session) run(ctx context.Context, c *dtls.Conn) {
	defer s.wg.Done()
	defer func() { _ = c.Close() }()
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	err := c.HandshakeContext(hctx)
	cancel()
	if err == nil {
		s.keys, err = exportKeys(c, s.cfg.Role == RoleClient)
	}
	s.err = err
	close(s.done)
	if err != nil {
		s.cfg.Log.Info("DTLS handshake failed", "role", s.cfg.Role, "err", err)
		return
	}
	s.cfg.Log.Debug("DTLS handshake done", "role", s.cfg.Role, "profile", s.keys.Profile)
	// Keep reading: this answers retransmitted final flights and notices
	// close_notify; Close ends it by closing the DTLS conn (closing only the
	// virtual conn does not wake Read). WebRTC data channels are not
	// supported, so any application data is discarded.
	buf := make([]byte, 1500)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

func exportKeys(c *dtls.Conn, isClient bool) (Keys, error) {
	prof, ok := c.SelectedSRTPProtectionProfile()
	if !ok {
		return Keys{}, ErrNoSRTPProfile
	}
	state, ok := c.ConnectionState()
	if !ok {
		return Keys{}, errors.New("dtls: no connection state")
	}
	sc := srtp.Config{Profile: srtp.ProtectionProfile(prof)}
	if err := sc.ExtractSessionKeysFromDTLS(&state, isClient); err != nil {
		return Keys{}, fmt.Errorf("export SRTP keys: %w", err)
	}
	return Keys{Profile: sc.Profile, SessionKeys: sc.Keys}, nil
}

// Feed hands one DTLS datagram from the demultiplexer to the session. It
// never blocks; a datagram is dropped (and counted) when the queue is full.
func (s *Session) Feed(b []byte) bool {
	if s.conn.feed(b) {
		return true
	}
	s.drops.Add(1)
	return false
}

// Drops counts datagrams dropped because the session could not keep up.
func (s *Session) Drops() uint64 { return s.drops.Load() }

// Role returns the session's DTLS role.
func (s *Session) Role() Role { return s.cfg.Role }

// Done is closed when the handshake has finished or failed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Result returns the exported keys, valid once Done is closed.
func (s *Session) Result() (Keys, error) {
	select {
	case <-s.done:
		return s.keys, s.err
	default:
		return Keys{}, errors.New("dtls handshake in progress")
	}
}

// Close stops the session and waits for its goroutines.
func (s *Session) Close() {
	if s.closed.Swap(true) {
		return
	}
	s.stop()
	_ = s.conn.Close()
	_ = s.dc.Close()
	s.wg.Wait()
}
