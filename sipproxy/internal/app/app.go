// Package app assembles sipproxy: sipgo user agent, transports, registrar,
// router and management API, from a config.Config. main and the
// integration tests both start the proxy through it.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/auth"
	"sipmedia/sipproxy/internal/certs"
	"sipmedia/sipproxy/internal/config"
	"sipmedia/sipproxy/internal/mgmt"
	"sipmedia/sipproxy/internal/natping"
	"sipmedia/sipproxy/internal/overload"
	"sipmedia/sipproxy/internal/pike"
	"sipmedia/sipproxy/internal/registrar"
	"sipmedia/sipproxy/internal/router"
	"sipmedia/sipproxy/internal/transport"
)

// Proxy is a running sipproxy.
type Proxy struct {
	Transport *transport.Manager
	Router    *router.Router
	Registrar *registrar.Registrar
	Mgmt      *mgmt.Server
	Overload  *overload.Detector  // new INVITEs refused while the proxy falls behind
	Auth      *auth.Authenticator // nil without --auth-users
	NATPing   *natping.Pinger     // nil without --natping-interval
	Pike      *pike.Guard         // nil without --pike-density
	Certs     *certs.Source       // nil without tls or wss listeners

	ua       *sipgo.UserAgent
	location *registrar.Syncer // nil without --location-file
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// configureSIPGo sets sipgo's package-level limits once per process.
// They are process-wide in sipgo; every Proxy in a process uses the same.
var configureOnce sync.Once

func configureSIPGo(cfg config.Config) {
	configureOnce.Do(func() {
		// Large messages (WebRTC SDP) are sent over UDP as one datagram:
		// we raise sipgo's UDP limit deliberately instead of switching to
		// TCP (RFC 3261 18.1.1 would need a TCP listener on the target,
		// which phones behind NAT seldom have).
		sip.UDPMTUSize = cfg.UDPMTU
		sip.TransportBufferReadSize = 65535
	})
}

// Start builds and starts a proxy. media may be nil.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger, media router.Media) (*Proxy, error) {
	configureSIPGo(cfg)
	hosts := cfg.Domains
	for _, l := range cfg.Listen {
		hosts = append(hosts, l.IP)
	}
	var tlsConf *tls.Config
	needTLS := false
	for _, l := range cfg.Listen {
		needTLS = needTLS || l.Proto == "tls" || l.Proto == "wss"
	}
	var certSrc *certs.Source
	if needTLS {
		var err error
		if certSrc, err = certs.Load(cfg.TLSCertificate, cfg.TLSPrivateKey, hosts); err != nil {
			return nil, err
		}
		tlsConf = certSrc.Config()
	}
	var authn *auth.Authenticator
	if cfg.AuthUsers != "" {
		var err error
		if authn, err = auth.Load(cfg.AuthUsers); err != nil {
			return nil, err
		}
		log.Info("digest authentication on", "users", authn.Len())
	}
	p := &Proxy{Auth: authn, Certs: certSrc}
	stats := &transport.Stats{}
	sipLog := slog.New(transport.SipgoLog{Handler: log.Handler(), Stats: stats})
	var mgr *transport.Manager
	var rt *router.Router
	// The filter and the stray-response handler need objects built after
	// the user agent; they only run once listeners are up.
	filter := func(info sip.TransportReadProps, data []byte) ([]byte, error) {
		return mgr.Filter(info, data)
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgentHostname(cfg.Listen[0].IP),
		// Certificates of TLS peers we dial are not verified unless
		// configured: phones and test UAs use self-signed ones.
		sipgo.WithUserAgenTLSConfig(&tls.Config{InsecureSkipVerify: !cfg.TLSVerifyPeers}), //nolint:gosec
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(sipLog),
			sip.WithTransportLayerReadFilter(filter),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(func(res *sip.Response) { rt.HandleStrayResponse(res) }),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("sipgo user agent: %w", err)
	}
	p.ua = ua
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sipgo server: %w", err)
	}
	p.Overload = overload.New(cfg.OverloadWait, log.With("component", "overload"))
	mgr = transport.New(log, ua, srv, transport.Options{
		TLS: tlsConf, WSOrigins: cfg.WSOrigins, WSIdleTimeout: cfg.WSIdleTimeout, MaxMessageSize: cfg.MaxMessageSize,
		UDPReadBuffer: cfg.UDPReadBuffer, Overload: p.Overload,
	})
	p.Transport = mgr
	store := registrar.NewMemStore()
	if cfg.LocationFile != "" {
		n, err := registrar.LoadFile(cfg.LocationFile, store, time.Now())
		if err != nil {
			ua.Close()
			return nil, fmt.Errorf("%w (fix or remove it)", err)
		}
		log.Info("location table read", "file", cfg.LocationFile, "bindings", n)
		p.location = &registrar.Syncer{Path: cfg.LocationFile, Store: store, Log: log.With("component", "location")}
		// Written once now, so that a file that cannot be written is
		// found at start rather than at the first sync.
		if err := p.location.Sync(time.Now()); err != nil {
			ua.Close()
			return nil, err
		}
	}
	p.Registrar = &registrar.Registrar{Store: store, Limits: registrar.Limits{
		Default: cfg.DefaultExpires, Min: cfg.MinExpires, Max: cfg.MaxExpires, MaxContacts: cfg.MaxContacts}}
	if cfg.Pike.Density > 0 {
		var mine []netip.Addr // src_ip==myself: listeners and addresses among the domains
		for _, h := range hosts {
			if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
				mine = append(mine, a)
			}
		}
		p.Pike = pike.New(cfg.Pike, mine, log.With("component", "pike"))
	}
	rt = router.New(log, router.Config{Domains: cfg.Domains, FrTimeout: cfg.FrTimeout, FrInvTimeout: cfg.FrInvTimeout,
		Overload: p.Overload, Auth: authn, Pike: p.Pike},
		ua.TransactionLayer(), mgr, p.Registrar, media)
	p.Router = rt
	srv.OnNoRoute(rt.Handle)
	onResponse := rt.HandleResponse
	if cfg.NATPing.Interval > 0 {
		host := cfg.Listen[0].IP
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if len(cfg.Domains) > 0 {
			host = cfg.Domains[0]
		}
		if p.NATPing, err = natping.New(cfg.NATPing, "sip:pinger@"+host, store, mgr, log.With("component", "natping")); err != nil {
			ua.Close()
			return nil, err
		}
		// Replies to the pings come back on the listeners like any other.
		onResponse = func(res *sip.Response) bool { return p.NATPing.Response(res) || rt.HandleResponse(res) }
	}
	mgr.SetStateless(transport.StatelessHandler{Methods: rt.StatelessMethods(), Serve: rt.HandleStateless,
		Response: onResponse})

	ctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	if err := mgr.Start(ctx, cfg.Listen); err != nil {
		cancel()
		ua.Close()
		return nil, err
	}
	p.wg.Add(1)
	go func() { defer p.wg.Done(); registrar.RunExpiry(ctx, store, time.Second) }()
	if p.location != nil {
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.location.Run(ctx, cfg.LocationSync) }()
	}
	if p.Pike != nil {
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.Pike.Run(ctx) }()
	}
	if p.NATPing != nil {
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.NATPing.Run(ctx) }()
	}
	if cfg.Mgmt != "" {
		p.Mgmt = &mgmt.Server{Registrar: p.Registrar, Counters: func() map[string]int64 { return p.Counters(stats) }}
		if err := p.Mgmt.Listen(cfg.Mgmt); err != nil {
			p.Close()
			return nil, err
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := p.Mgmt.Serve(); err != nil {
				log.Warn("mgmt stopped", "error", err)
			}
		}()
	}
	return p, nil
}

// Counters gathers every counter for the management API.
func (p *Proxy) Counters(parse *transport.Stats) map[string]int64 {
	m := &p.Router.Metrics
	t := &p.Transport.Stats
	all, _ := p.Registrar.Store.All(context.Background(), time.Now())
	np := &natping.Metrics{} // zeros without pings
	var pikeBanned, pikeDropped int64
	if p.Pike != nil {
		pikeBanned, pikeDropped = p.Pike.Banned.Load(), p.Pike.Dropped.Load()
	}
	if p.NATPing != nil {
		np = &p.NATPing.Metrics
	}
	return map[string]int64{
		"requests":              m.Requests.Load(),
		"requests_bad":          m.BadRequests.Load(),
		"replies_1xx":           m.Replies[1].Load(),
		"replies_2xx":           m.Replies[2].Load(),
		"replies_3xx":           m.Replies[3].Load(),
		"replies_4xx":           m.Replies[4].Load(),
		"replies_5xx":           m.Replies[5].Load(),
		"replies_6xx":           m.Replies[6].Load(),
		"relayed":               m.Relayed.Load(),
		"relayed_stateless":     m.Stateless.Load(),
		"dropped":               m.Dropped.Load(),
		"transactions_active":   m.ActiveTx.Load(),
		"timer_c_expired":       m.TimerC.Load(),
		"fr_timeout_expired":    m.FrTimeouts.Load(),
		"send_failures":         m.SendFailures.Load(),
		"inbox_full":            m.InboxFull.Load(),
		"retransmissions_kept":  m.Retransmissions.Load(),
		"panics":                m.Panics.Load(),
		"auth_challenges":       m.AuthChallenges.Load(),
		"auth_failures":         m.AuthFailures.Load(),
		"registrations":         int64(len(all)),
		"natping_sent":          np.Sent.Load(),
		"natping_answered":      np.Answered.Load(),
		"natping_removed":       np.Removed.Load(),
		"natping_send_failures": np.SendFailures.Load(),
		"pike_banned":           pikeBanned,
		"pike_dropped":          pikeDropped,
		"drop_oversized":        t.Oversized.Load(),
		"drop_malformed":        t.Malformed.Load(),
		"replied_400_malformed": t.Rejected400.Load(),
		"drop_parse_failed":     parse.ParseFailed.Load(),
		"ws_connections":        t.WSConns.Load(),
		"ws_rejected":           t.WSRejected.Load(),
		"ws_idle_closed":        t.WSIdleClosed.Load(),
		"overload_refused":      p.Overload.Shed.Load(),
		"overload_episodes":     p.Overload.Episodes.Load(),
		"udp_queue_wait_us":     p.Overload.Wait().Microseconds(),
	}
}

// Close stops everything and waits.
func (p *Proxy) Close() error {
	if p.cancel != nil {
		p.cancel()
	}
	var err error
	if p.Mgmt != nil {
		err = errors.Join(err, p.Mgmt.Close())
	}
	if p.Transport != nil {
		err = errors.Join(err, p.Transport.Close())
	}
	if p.ua != nil {
		err = errors.Join(err, p.ua.Close())
	}
	if p.Router != nil {
		p.Router.Close()
	}
	p.wg.Wait()
	if p.location != nil {
		// Last, when nothing registers any more.
		_ = p.location.Sync(time.Now()) // logged
	}
	return err
}
