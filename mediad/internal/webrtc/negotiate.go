package webrtc

import (
	"errors"
	"fmt"
	"strings"

	"sipmedia/mediad/internal/webrtc/dtlssrtp"
	"sipmedia/mediad/internal/webrtc/ice"
	"sipmedia/mediad/internal/webrtc/sdes"
)

// Transport protocol names of m= lines.
const (
	ProtoRTPAVP     = "RTP/AVP"
	ProtoRTPAVPF    = "RTP/AVPF"
	ProtoRTPSAVP    = "RTP/SAVP"
	ProtoRTPSAVPF   = "RTP/SAVPF"
	ProtoDTLSSAVP   = "UDP/TLS/RTP/SAVP"
	ProtoDTLSSAVPF  = "UDP/TLS/RTP/SAVPF"
	protoUDPTLSPref = "UDP/TLS/"
)

// rtpProtos are the m= protocols rtpengine 10.5 handles as RTP. It takes
// them in any case and writes them in this one. Any other protocol
// (TCP/RTP/AVP, TCP/TLS/RTP/SAVPF, DCCP/RTP/AVP, RTP/AVP/TCP, ...) passes
// through as opaque media: no codec lines, no a=rtcp, no keys.
var rtpProtos = [...]string{ProtoRTPAVP, ProtoRTPAVPF, ProtoRTPSAVP, ProtoRTPSAVPF, ProtoDTLSSAVP, ProtoDTLSSAVPF}

// RTPProto returns the canonical spelling of an RTP m= protocol, and
// false (with proto unchanged) for any protocol rtpengine does not handle
// as RTP.
func RTPProto(proto string) (string, bool) {
	for _, p := range rtpProtos {
		if strings.EqualFold(proto, p) {
			return p, true
		}
	}
	return proto, false
}

// IsSRTP reports whether an m= protocol carries SRTP (SDES or DTLS keyed).
func IsSRTP(proto string) bool {
	p, ok := RTPProto(proto)
	return ok && strings.Contains(p, "RTP/SAVP")
}

// IsDTLS reports whether an m= protocol is DTLS-SRTP (UDP/TLS/RTP/SAVP[F]).
func IsDTLS(proto string) bool {
	p, ok := RTPProto(proto)
	return ok && strings.HasPrefix(p, protoUDPTLSPref)
}

// Options are the NG flags that shape security toward one party in one
// message.
type Options struct {
	// DTLS is the NG DTLS key: "passive", "active", or "off"/"no"/"disable".
	DTLS string
	// DTLSPassive is the daemon's --dtls-passive.
	DTLSPassive bool
	// SDESOff is SDES=off (no a=crypto offered or accepted).
	SDESOff bool
	// SDES filters offered/accepted suites (SDES-no-*, SDES-only-*).
	SDES sdes.Policy
	// PadCrypto is the pad-crypto flag (base64 padding in a=crypto).
	PadCrypto bool
	// NoTLSID is the no-tls-id flag.
	NoTLSID bool
	// FingerprintHash overrides the hash (DTLS-fingerprint key).
	FingerprintHash string
	// Passthrough (offers): the offering party's own a=crypto lines, passed
	// on unchanged ahead of ours, as rtpengine does between two SDES
	// parties (unless "recrypt"). If the answerer picks one of them, SRTP
	// flows end to end without being decrypted.
	Passthrough []sdes.Crypto
	// PassthroughAnswer (answers): the answerer's line for a passed-through
	// offer line, handed back to the offerer unchanged.
	PassthroughAnswer *sdes.Crypto
}

// DTLSOff reports DTLS=off (or no, disable): no DTLS offered or accepted.
func (o Options) DTLSOff() bool {
	switch strings.ToLower(o.DTLS) {
	case "off", "no", "disable", "disabled":
		return true
	}
	return false
}

// PreferPassive reports whether an answer to actpass takes the passive
// role: DTLS=passive, or --dtls-passive unless DTLS=active (rtpengine's
// dtls_passive).
func (o Options) PreferPassive() bool {
	return (o.DTLSPassive || strings.EqualFold(o.DTLS, "passive")) && !strings.EqualFold(o.DTLS, "active")
}

// Security is the SRTP negotiation state toward one party for one m= line:
// what we announced and what the party answered or offered. It is owned by
// the call's signalling (under its lock) and turned into Endpoint settings
// with Apply.
type Security struct {
	cert  *dtlssrtp.Certificate
	tlsID string

	// What we told the party.
	offeredCrypto []sdes.Crypto // our a=crypto lines in an offer
	passed        []sdes.Crypto // lines of offeredCrypto that are the other party's
	localCrypto   *sdes.Crypto  // our a=crypto line in an answer (or the one the party chose)
	passthrough   *sdes.Crypto  // SRTP passes through: the line the answerer chose
	setup         dtlssrtp.Setup
	hash          string

	// What the party told us.
	remote      Remote
	remoteValid bool
	weOffered   bool
}

// NewSecurity makes the state for one party and m= line.
func NewSecurity(cert *dtlssrtp.Certificate) (*Security, error) {
	if cert == nil {
		return nil, errors.New("webrtc: no certificate")
	}
	id, err := dtlssrtp.NewTLSID()
	if err != nil {
		return nil, err
	}
	return &Security{cert: cert, tlsID: id}, nil
}

// OfferAttrs returns the security attributes of an offer sent to the party
// with m= protocol proto: a=crypto for every allowed suite (unless SDES=off),
// then setup:actpass and the fingerprint (unless DTLS=off), as rtpengine
// does when it converts plain RTP to SRTP. A re-offer keeps the keys.
func (s *Security) OfferAttrs(proto string, o Options) (Local, error) {
	var l Local
	if !IsSRTP(proto) {
		return l, nil
	}
	s.weOffered = true
	if !o.SDESOff {
		if s.offeredCrypto == nil || !sameLines(s.passed, o.Passthrough) {
			c, err := sdes.OfferAfter(o.Passthrough, o.SDES)
			if err != nil {
				return l, err
			}
			s.offeredCrypto, s.passed = c, o.Passthrough
		}
		l.Crypto, l.PadCrypto = s.offeredCrypto, o.PadCrypto
	}
	if !o.DTLSOff() {
		// Always actpass: rtpengine 10.5 ignores DTLS=passive/active in
		// offers (the answerer decides).
		s.setup = dtlssrtp.SetupActpass
		if err := s.fingerprint(&l, o); err != nil {
			return l, err
		}
		l.Setup = s.setup
	}
	return l, nil
}

// AnswerAttrs returns the security attributes of an answer sent to the
// party whose offer was parsed into remote: DTLS if it offered a
// fingerprint (setup active by default, passive with DTLS=passive or
// --dtls-passive), else one a=crypto line for the first acceptable suite.
func (s *Security) AnswerAttrs(proto string, remote Remote, o Options) (Local, error) {
	var l Local
	prev, hadRole := s.dtlsRole()
	s.remote, s.remoteValid, s.weOffered = remote, true, false
	if !IsSRTP(proto) {
		return l, nil
	}
	if remote.Fingerprint != nil && !o.DTLSOff() {
		role := dtlssrtp.AnswerRole(remote.Setup, o.PreferPassive())
		if remote.Setup == dtlssrtp.SetupActpass && hadRole && prev == dtlssrtp.RoleServer {
			// A re-offer with actpass after we were passive: stay
			// passive, so the DTLS association (RFC 5763 §5, RFC 8842)
			// and its keys carry on, as rtpengine does.
			role = dtlssrtp.RoleServer
		}
		s.setup = dtlssrtp.SetupFor(role)
		if o.FingerprintHash == "" && dtlssrtp.SupportedHash(remote.Fingerprint.Hash) {
			o.FingerprintHash = remote.Fingerprint.Hash
		}
		if err := s.fingerprint(&l, o); err != nil {
			return l, err
		}
		l.Setup = s.setup
		// rtpengine 10.5 writes a=tls-id only toward a party that uses it.
		if remote.TLSID != "" && !o.NoTLSID {
			l.TLSID = s.tlsID
		}
		return l, nil
	}
	if pa := o.PassthroughAnswer; pa != nil && len(remote.Crypto) > 0 && !o.SDESOff {
		for _, c := range remote.Crypto {
			if c.Tag == pa.Tag && strings.EqualFold(c.Suite, pa.Suite) {
				s.passthrough, s.localCrypto = pa, nil
				l.Crypto, l.PadCrypto = []sdes.Crypto{*pa}, o.PadCrypto
				return l, nil
			}
		}
	}
	s.passthrough = nil
	if len(remote.Crypto) > 0 && !o.SDESOff {
		if s.localCrypto == nil || !cryptoOffered(remote.Crypto, *s.localCrypto) {
			_, local, err := sdes.Answer(remote.Crypto, o.SDES)
			if err != nil {
				return l, fmt.Errorf("SDES answer: %w", err)
			}
			s.localCrypto = &local
		}
		l.Crypto, l.PadCrypto = []sdes.Crypto{*s.localCrypto}, o.PadCrypto
	}
	return l, nil
}

// cryptoOffered: a re-offer still contains the suite and tag we answered.
func cryptoOffered(offered []sdes.Crypto, ours sdes.Crypto) bool {
	for _, c := range offered {
		if c.Tag == ours.Tag && strings.EqualFold(c.Suite, ours.Suite) {
			return true
		}
	}
	return false
}

func (s *Security) fingerprint(l *Local, o Options) error {
	h := o.FingerprintHash
	if h == "" {
		h = s.hash
	}
	if h == "" {
		h = dtlssrtp.DefaultHash
	}
	fp, err := s.cert.Fingerprint(h)
	if err != nil {
		return err
	}
	s.hash = fp.Hash
	l.Fingerprint = &fp
	return nil
}

// SetAnswer records the party's answer to our offer.
func (s *Security) SetAnswer(remote Remote) {
	s.remote, s.remoteValid = remote, true
	s.passthrough = nil
	if remote.Fingerprint != nil && s.setup != "" || len(remote.Crypto) == 0 {
		return
	}
	chosen := remote.Crypto[0]
	for _, c := range s.passed {
		if c.Tag == chosen.Tag && strings.EqualFold(c.Suite, chosen.Suite) {
			s.passthrough = &chosen
		}
	}
}

// Passthrough returns the answerer's a=crypto line when it chose one of
// the lines passed through from the offerer: SRTP then flows end to end
// and neither side is decrypted.
func (s *Security) Passthrough() (sdes.Crypto, bool) {
	if s.passthrough == nil {
		return sdes.Crypto{}, false
	}
	return *s.passthrough, true
}

func sameLines(a, b []sdes.Crypto) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			return false
		}
	}
	return true
}

// Plan is what an Endpoint must do toward the party once both sides of
// the negotiation are known.
type Plan struct {
	// DTLS, if set, starts a DTLS association with these parameters.
	DTLS *DTLSParams
	// SDESLocal/SDESRemote, if set, key SRTP directly.
	SDESLocal, SDESRemote *sdes.Crypto
	// Controlling is our ICE role toward the party; Lite: we are an
	// ICE-lite agent toward it (then never controlling).
	Controlling, Lite bool
	// Passthrough: SRTP is passed through untouched (SDES lines exchanged
	// end to end); no keys are installed.
	Passthrough bool
	// RemoteICE are the party's credentials and candidates (zero: no ICE).
	RemoteICE  ice.Credentials
	Candidates []ice.Candidate
}

// dtlsRole is our DTLS role toward the party as last negotiated; ok is
// false before a DTLS exchange with it.
func (s *Security) dtlsRole() (role dtlssrtp.Role, ok bool) {
	if !s.remoteValid || s.setup == "" || s.remote.Fingerprint == nil {
		return role, false
	}
	if s.weOffered {
		return dtlssrtp.OfferRole(s.remote.Setup), true
	}
	if s.setup == dtlssrtp.SetupPassive {
		return dtlssrtp.RoleServer, true
	}
	return dtlssrtp.RoleClient, true
}

// Plan derives the endpoint settings from the negotiation. ok is false
// while the party's side is unknown (an offer not yet answered).
func (s *Security) Plan() (p Plan, ok bool, err error) {
	if !s.remoteValid {
		return p, false, nil
	}
	r := s.remote
	p.RemoteICE, p.Candidates = r.ICE, r.Candidates
	p.Controlling = s.weOffered || r.ICELite
	switch {
	case s.passthrough != nil:
		p.Passthrough = true
	case s.setup != "" && r.Fingerprint != nil:
		role, _ := s.dtlsRole()
		p.DTLS = &DTLSParams{Cert: s.cert, Role: role, Remote: *r.Fingerprint, PeerTLSID: r.TLSID}
	case s.weOffered && len(r.Crypto) > 0:
		// The party answered one of our lines with its own key.
		theirs := r.Crypto[0]
		for i := range s.offeredCrypto {
			if s.offeredCrypto[i].Tag == theirs.Tag && strings.EqualFold(s.offeredCrypto[i].Suite, theirs.Suite) {
				ours := s.offeredCrypto[i]
				p.SDESLocal, p.SDESRemote = &ours, &theirs
			}
		}
		if p.SDESLocal == nil {
			return p, true, errors.New("SDES answer names no offered crypto line")
		}
	case !s.weOffered && s.localCrypto != nil:
		for i := range r.Crypto {
			if r.Crypto[i].Tag == s.localCrypto.Tag {
				theirs, ours := r.Crypto[i], *s.localCrypto
				p.SDESLocal, p.SDESRemote = &ours, &theirs
			}
		}
	}
	return p, true, nil
}

// Apply configures an endpoint from a plan: ICE remote side and role,
// then DTLS or SDES keys.
func (e *Endpoint) Apply(p Plan) error {
	if a := e.agent; a != nil && p.RemoteICE.Ufrag != "" {
		a.SetLite(p.Lite)
		a.SetControlling(p.Controlling)
		a.SetRemote(p.RemoteICE, p.Candidates)
	}
	if p.SDESLocal != nil && p.SDESRemote != nil {
		if err := e.SetSDES(*p.SDESLocal, *p.SDESRemote); err != nil {
			return err
		}
	}
	if p.DTLS != nil {
		return e.StartDTLS(*p.DTLS)
	}
	return nil
}
