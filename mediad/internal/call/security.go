package call

import (
	"strings"

	"sipmedia/mediad/internal/sdp"
	"sipmedia/mediad/internal/webrtc"
)

// This file connects the call model to package webrtc for the SDP side of
// SRTP: what a party's SDP says about ICE, DTLS and SDES, and the a=crypto,
// a=setup, a=fingerprint and a=tls-id lines written toward it.

// webrtcAttrs converts SDP lines to package webrtc's attribute form.
func webrtcAttrs(lines []sdp.Line) []webrtc.Attr {
	var out []webrtc.Attr
	for _, a := range sdp.Attrs(lines) {
		out = append(out, webrtc.Attr{Name: a.Name, Value: a.Value})
	}
	return out
}

// parseRemoteSecurity reads a party's security attributes for one media;
// unusable values are ignored as rtpengine does.
func parseRemoteSecurity(in *sdp.Session, m *sdp.Media) webrtc.Remote {
	r, _ := webrtc.ParseRemote(webrtcAttrs(in.Lines), webrtcAttrs(m.Lines))
	return r
}

// securityOptions maps the NG keys of one message and the daemon's
// --dtls-passive onto package webrtc's options.
func (r *Registry) securityOptions(p *Params) webrtc.Options {
	o := webrtc.Options{
		DTLS: p.DTLS, DTLSPassive: r.cfg.DTLSPassive, FingerprintHash: p.DTLSFingerprint,
		PadCrypto: p.flag("pad-crypto"), NoTLSID: p.flag("no-tls-id"),
	}
	for _, s := range p.SDES {
		switch l := strings.ToLower(s); {
		case l == "off" || l == "no" || l == "disable":
			o.SDESOff = true
		case strings.HasPrefix(l, "no-"):
			o.SDES.Exclude = append(o.SDES.Exclude, s[3:])
		case strings.HasPrefix(l, "only-"):
			o.SDES.Only = append(o.SDES.Only, s[5:])
		}
	}
	return o
}

// securityLines writes the SRTP attributes for media dm toward its party
// (rtpengine's order: crypto, setup, fingerprint, tls-id); nothing when
// the protocol toward the party is not SRTP or there is no certificate.
// sm is the other party's media: its own a=crypto lines are passed on in
// an offer, and handed back in the answer if the answerer chose one.
func (r *Registry) securityLines(add func(string), p *Params, proto string, sm, dm *Media, answer bool) error {
	if r.cert == nil || !webrtc.IsSRTP(proto) {
		return nil
	}
	if dm.sec == nil {
		s, err := webrtc.NewSecurity(r.cert)
		if err != nil {
			return err
		}
		dm.sec = s
	}
	opts := r.securityOptions(p)
	if answer {
		if sm.sec != nil {
			if c, ok := sm.sec.Passthrough(); ok {
				opts.PassthroughAnswer = &c
			}
		}
	} else {
		if !p.flag("recrypt") {
			opts.Passthrough = sm.Remote.Crypto
		}
		// rtpengine's __generate_crypto offers both DTLS and SDES only
		// while neither runs with the party; once one was agreed (or the
		// party offered only one), a re-offer keeps to it.
		if n := dm.neg; n.dtls != n.sdes {
			opts.SDESOff = opts.SDESOff || !n.sdes
			if !n.dtls {
				opts.DTLS = "off"
			}
		}
	}
	var (
		l   webrtc.Local
		err error
	)
	if answer {
		l, err = dm.sec.AnswerAttrs(proto, dm.Remote, opts)
	} else {
		l, err = dm.sec.OfferAttrs(proto, opts)
	}
	if err != nil {
		// No acceptable suite: rtpengine answers without a=crypto.
		r.log.Info("SRTP negotiation", "err", err)
	}
	if len(l.Crypto) > 0 {
		dm.neg.sdesOut = l.Crypto[0].Suite
	}
	for _, a := range l.SecurityAttrs() {
		if a.Value == "" {
			add(a.Name)
		} else {
			add(a.Name + ":" + a.Value)
		}
	}
	return nil
}

// keepBundle: a BUNDLE group stays when WebRTC (UDP/TLS) faces WebRTC on
// every m= line, so the mids stay grouped as both browsers expect;
// toward a plain or SDES party rtpengine drops it.
func keepBundle(in *sdp.Session, p *Params, src, dst *Monologue, answer bool) bool {
	for i, m := range in.Media {
		out := ""
		if i < len(dst.Medias) {
			out = dst.Medias[i].Protocol
		}
		if answer && p.TransportProtocol != "" && !strings.EqualFold(p.TransportProtocol, "accept") {
			out = p.TransportProtocol
		}
		if !webrtc.IsDTLS(m.Proto) || !webrtc.IsDTLS(out) {
			return false
		}
	}
	return len(in.Media) > 0
}
