package call

import (
	"context"

	"sipmedia/mediad/internal/relay"
	"sipmedia/mediad/internal/webrtc"
	"sipmedia/mediad/internal/webrtc/ice"
)

// This file attaches package webrtc's Endpoint (ICE, DTLS, SRTP) to the
// relay streams a party sends to, when what we wrote toward that party is
// SRTP or carries ICE. The relay calls it through Forwarding.Transform.

// mediaSecurityState is kept on Media: what we last wrote toward the party
// and the endpoints terminating it, one per component, with the relay
// stream each one sits on.
type mediaSecurityState struct {
	sentProto string // m= protocol last written toward the party
	sentICE   bool   // ICE credentials and candidates were written
	eps       [2]*webrtc.Endpoint
	on        [2]*relay.Stream
}

// needsEndpoint reports whether the party's side must be terminated.
func (s *mediaSecurityState) needsEndpoint() bool {
	return webrtc.IsSRTP(s.sentProto) || s.sentICE
}

// dtlsVerified reports per component whether its DTLS handshake
// completed (the peer's fingerprint checked).
func (s *mediaSecurityState) dtlsVerified() (v [2]bool) {
	for k, ep := range s.eps {
		v[k] = ep != nil && ep.DTLSVerified()
	}
	return v
}

// closeEndpoints stops the media's endpoints (sockets released, or the
// party no longer needs them).
func (s *mediaSecurityState) closeEndpoints() {
	for k, ep := range s.eps {
		if ep != nil {
			ep.Close()
			s.eps[k], s.on[k] = nil, nil
		}
	}
}

// syncEndpoints creates, configures or closes the endpoints terminating
// party's side of md (after signalling, before the relay snapshots).
func (r *Registry) syncEndpoints(party *Monologue, md *Media) {
	st := &md.secState
	passthrough := false
	if md.sec != nil {
		_, passthrough = md.sec.Passthrough()
	}
	if r.relay == nil || md.pair == nil || !st.needsEndpoint() || (passthrough && !st.sentICE) || md.Passthru {
		st.closeEndpoints()
		return
	}
	var (
		plan webrtc.Plan
		ok   bool
		err  error
	)
	if md.sec != nil {
		plan, ok, err = md.sec.Plan()
		if err != nil {
			r.log.Info("SRTP negotiation", "err", err)
		}
	} else if md.Remote.ICE.Ufrag != "" {
		// ICE toward a plain RTP party.
		plan = webrtc.Plan{RemoteICE: md.Remote.ICE, Candidates: md.Remote.Candidates}
		ok = true
	}
	// The role is the call's, not the last offer's (Plan's weOffered);
	// our agent also controls toward an ICE-lite party, unless it is
	// ICE-lite itself (rtpengine's ICE_LITE_PEER and ICE_LITE_SELF).
	plan.Lite = md.iceLiteSelf
	plan.Controlling = (party.iceControlling(md) || md.Remote.ICELite) && !md.iceLiteSelf
	muxed := md.Mux || md.Remote.RTCPMux
	for k := range st.eps {
		rs := r.relayStream(md.Streams[k])
		if rs == nil || (k == 1 && muxed) || (st.eps[k] != nil && st.on[k] != rs) {
			// No socket, RTCP riding on the RTP port, or the socket moved.
			if st.eps[k] != nil {
				st.eps[k].Close()
				st.eps[k], st.on[k] = nil, nil
			}
			if rs == nil || (k == 1 && muxed) {
				continue
			}
		}
		ep := st.eps[k]
		if ep == nil {
			cfg := webrtc.Config{Writer: rs, Local: rs.Local(), Component: k + 1, Software: r.software(),
				Log: r.log.With("component", "webrtc"), LogKeys: r.cfg.LogSRTPKeys, Plain: !webrtc.IsSRTP(st.sentProto) || passthrough}
			if st.sentICE && party.iceUfrag != "" {
				cfg.ICE = &webrtc.ICEConfig{
					Local:       ice.Credentials{Ufrag: party.iceUfrag, Pwd: party.icePwd},
					Controlling: plan.Controlling,
					Lite:        plan.Lite,
				}
			}
			if ep, err = webrtc.NewEndpoint(cfg); err != nil {
				r.log.Warn("WebRTC endpoint", "err", err)
				continue
			}
			ep.Start(context.Background()) // ended by Close when the media goes
			st.eps[k], st.on[k] = ep, rs
		} else if a := ep.ICE(); a != nil && party.iceUfrag != "" && a.LocalCredentials().Ufrag != party.iceUfrag {
			a.Restart(ice.Credentials{Ufrag: party.iceUfrag, Pwd: party.icePwd})
		}
		if !st.sentICE && md.Streams[k] != nil && md.Streams[k].Endpoint.IsValid() {
			// No ICE: a DTLS client sends its ClientHello to the SDP address.
			ep.SetDTLSHint(md.Streams[k].Endpoint)
		}
		if ok {
			if err := ep.Apply(plan); err != nil {
				r.log.Info("WebRTC endpoint setup", "component", k+1, "err", err)
			}
		}
	}
}
