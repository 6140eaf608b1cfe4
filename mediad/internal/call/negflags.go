package call

import (
	"strings"

	"sipmedia/mediad/internal/sdp"
	"sipmedia/mediad/internal/webrtc"
	"sipmedia/mediad/internal/webrtc/dtlssrtp"
)

// This file keeps rtpengine's per-media negotiation flags as its query
// reports them: "rtcp-mux", "DTLS-SRTP", "DTLS role active/passive",
// "SDES", "ICE", "trickle ICE" and a stream's "crypto suite". They say
// what was offered or agreed toward a party, so before an answer they run
// ahead of the media plane (both DTLS roles, mux and SDES as offered).
// They are updated in rtpengine 10.5's order (call.c: the sender's SDP,
// __dtls_logic, __generate_crypto, __ice_offer, __init_stream) and read
// by query; the SDP read only dtls and sdes, which say whether a re-offer
// is to carry both (securityLines). The media plane never reads them.

// negFlags are one media's flags toward its party.
type negFlags struct {
	mux, dtls, active, passive, sdes, ice, trickle bool
	// sdesOut is the suite of our first a=crypto line last written toward
	// the party; suite is what its streams report ("crypto suite"),
	// taken from sdesOut when they were last set up for SDES. dtlsUp: a
	// DTLS connection exists, which keeps suite as it is.
	sdesOut, suite string
	dtlsUp         bool
	// pass is Passthru as it was after the previous message.
	pass bool
}

// noteNegotiation updates the flags of both parties' medias after src's
// SDP in was turned into the SDP for dst; o are the message's security
// options (Registry.securityOptions).
func noteNegotiation(p *Params, o webrtc.Options, in *sdp.Session, src, dst *Monologue, answer bool) {
	for i, m := range in.Media {
		if i >= len(src.Medias) || i >= len(dst.Medias) {
			break
		}
		sm, dm := src.Medias[i], dst.Medias[i]
		dmHadICE := dm.neg.ice
		if m.Port != 0 {
			// DTLS-reverse is not read: its default, --dtls-passive, holds.
			noteSender(sm, !answer, o.DTLSPassive)
			if !answer {
				sm.neg.mux = sm.RTCPMuxOffered
			}
			noteCrypto(o, sm, dm, answer)
		}
		// The receiver's own SDP, if it sent one, set its ICE
		// (rtpengine's INITIALIZED); sdpSeen is set for the sender only.
		noteICE(p, sm, dm, !dst.sdpSeen, answer, dmHadICE)
		for _, md := range [2]*Media{sm, dm} {
			noteStreams(md)
			md.neg.pass = md.Passthru
		}
	}
}

// noteSender copies what the sender's SDP advertises: ICE (credentials),
// trickle ICE, SDES keys, and the DTLS roles it allows us (__dtls_logic).
func noteSender(sm *Media, offer, reversePassive bool) {
	r := &sm.Remote
	sm.neg.ice = r.ICE.Ufrag != ""
	// a=ice-options:trickle at either level (RFC 8840; rtpengine 10.5
	// reads only the media's, and its c=0.0.0.0 port 9 rule never fires
	// because the endpoint is parsed after the ICE attributes).
	sm.neg.trickle = sm.neg.ice && sm.Trickle
	if len(r.Crypto) > 0 {
		sm.neg.sdes = true
	}
	hadPassiveOnly := sm.neg.passive && !sm.neg.active
	// Our roles are the reverse of the party's a=setup.
	sm.neg.passive = r.Setup == dtlssrtp.SetupActpass || r.Setup == dtlssrtp.SetupActive
	sm.neg.active = r.Setup == dtlssrtp.SetupActpass || r.Setup == dtlssrtp.SetupPassive
	if offer && sm.neg.active && sm.neg.passive && hadPassiveOnly {
		// A re-offer with actpass keeps us passive if we were.
		sm.neg.active = false
	}
	if reversePassive && sm.neg.passive {
		sm.neg.active = false
	}
	sm.neg.dtls = (sm.neg.active || sm.neg.passive) && r.Fingerprint != nil
}

// noteCrypto is __generate_crypto for the receiver's media dm.
func noteCrypto(o webrtc.Options, sm, dm *Media, answer bool) {
	if !webrtc.IsSRTP(dm.secState.sentProto) || dm.neg.pass {
		dm.neg.dtls, dm.neg.sdes, dm.neg.active, dm.neg.passive = false, false, false, false
		if dm.neg.pass {
			// Passthrough leaves both legs' encryption to the parties.
			sm.neg.dtls, sm.neg.sdes, sm.neg.active, sm.neg.passive = false, false, false, false
		}
		return
	}
	if !answer {
		// An offer is always actpass, and SDES and DTLS both unless
		// switched off (only when neither runs yet).
		dm.neg.active, dm.neg.passive = true, true
		if !dm.neg.dtls && !dm.neg.sdes {
			dm.neg.dtls, dm.neg.sdes = !o.DTLSOff(), !o.SDESOff
		}
		return
	}
	if o.PreferPassive() && dm.neg.passive {
		dm.neg.active = false
	}
	if dm.neg.active {
		dm.neg.passive = false
	}
	if dm.neg.dtls && dm.neg.sdes && o.DTLSOff() {
		dm.neg.dtls = false
	}
	if dm.neg.dtls {
		dm.neg.sdes = false
	}
}

// noteICE is __ice_offer for the receiver's media dm: ICE toward it
// follows the sender unless the ICE key says otherwise.
func noteICE(p *Params, sm, dm *Media, fresh, answer, dmHadICE bool) {
	if fresh {
		dm.neg.ice = sm.neg.ice
	}
	opt := strings.ToLower(p.ICE)
	switch opt {
	case "", "default":
	case "remove":
		dm.neg.ice = false
	default:
		dm.neg.ice = true
	}
	if p.flag("reject-ice") {
		sm.neg.ice = false
	}
	if opt != "" && opt != "default" && opt != "force" && answer && !sm.neg.ice && !dmHadICE {
		// Our ICE offer was turned down and ICE was never forced.
		dm.neg.ice = false
	}
	if !answer && p.flag("trickle-ice") {
		dm.neg.trickle = true
	}
}

// noteStreams is __init_stream's crypto step: streams set up while SDES
// runs and no DTLS connection exists take the first suite offered.
func noteStreams(md *Media) {
	dtlsRunning := md.neg.dtls && md.neg.dtlsUp
	if md.neg.sdes && !dtlsRunning {
		md.neg.suite = md.neg.sdesOut
	}
	md.neg.dtlsUp = md.neg.dtls
}

// negMediaFlags appends the negotiation flags in rtpengine's order,
// "passthrough" and "ICE controlling" among them. Once DTLS ran with the
// party, SDES is no longer shown (rtpengine drops it at the party's first
// DTLS packet).
func negMediaFlags(out []string, md *Media, controlling, dtlsRan bool) []string {
	n := &md.neg
	for _, f := range [...]struct {
		on   bool
		name string
	}{
		{n.mux, "rtcp-mux"}, {n.dtls, "DTLS-SRTP"}, {n.active, "DTLS role active"},
		{n.passive, "DTLS role passive"}, {n.sdes && !dtlsRan, "SDES"}, {md.Passthru, "passthrough"},
		{n.ice, "ICE"}, {n.trickle, "trickle ICE"},
		// In passthrough no ICE agent of ours controls anything.
		{!md.Passthru && controlling, "ICE controlling"},
	} {
		if f.on {
			out = append(out, f.name)
		}
	}
	return out
}
