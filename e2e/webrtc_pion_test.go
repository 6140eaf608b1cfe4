package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/ngproto"
)

// TestWebRTCBrowserToBrowser is the seed's browser-to-browser case: two
// pion/webrtc peers (standing in for browsers) call each other through the
// daemon with "ICE=force-relay DTLS=passive" on offer and answer, and
// audio flows both ways with the payload bytes checked. The daemon passes
// ICE and DTLS through (rtpengine's passthrough): each peer must get the
// other's fingerprint and credentials and the daemon's relay candidates.
// The peers' own candidates are taken out of the SDP, as when browsers
// cannot reach each other directly, so every packet crosses the daemon,
// whose counters must show it. rtpengine 10.5 passes ICE and DTLS through
// with these flags too, but between two pion peers its B-to-A direction
// carries no media (with or without the peers' own candidates), so this
// test drives mediad only; the Chromium test runs both.
func TestWebRTCBrowserToBrowser(t *testing.T) {
	_, opts := daemon.MediadTB(t, daemon.Options{PortMin: 32000, PortMax: 32999})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ng, err := ngproto.Dial(opts.NG, ngproto.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ng.Close()
	a, trackA, gotA := pionPeer(t)
	defer a.Close()
	b, trackB, gotB := pionPeer(t)
	defer b.Close()

	offer, err := a.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-pion.GatheringCompletePromise(a)
	flags := kv{"ICE": "force-relay", "DTLS": "passive"}
	sdpA := withoutCandidates(a.LocalDescription().SDP)
	r, err := ng.Do(ctx, ngproto.Dict(merge(kv{"command": "offer", "call-id": "b2b", "from-tag": "a", "sdp": sdpA}, flags)))
	if err != nil {
		t.Fatal(err)
	}
	toB, err := replySDP(r)
	if err != nil {
		t.Fatal(err)
	}
	checkPassthrough(t, "offer", sdpA, toB)
	if err := b.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: toB}); err != nil {
		t.Fatalf("B rejects the offer: %v\n%s", err, toB)
	}
	answer, err := b.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-pion.GatheringCompletePromise(b)
	sdpB := withoutCandidates(b.LocalDescription().SDP)
	r, err = ng.Do(ctx, ngproto.Dict(merge(kv{"command": "answer", "call-id": "b2b", "from-tag": "a", "to-tag": "b", "sdp": sdpB}, flags)))
	if err != nil {
		t.Fatal(err)
	}
	toA, err := replySDP(r)
	if err != nil {
		t.Fatal(err)
	}
	checkPassthrough(t, "answer", sdpB, toA)
	if err := a.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: toA}); err != nil {
		t.Fatalf("A rejects the answer: %v\n%s", err, toA)
	}
	sendUntil(ctx, t, trackA, gotB, "from A to B")
	sendUntil(ctx, t, trackB, gotA, "from B to A")
	q, err := ng.Do(ctx, ngproto.Dict{"command": "query", "call-id": "b2b"})
	if err != nil {
		t.Fatal(err)
	}
	// STUN and DTLS count too; media alone is a few packets each way.
	n := rtpTotal(q)
	if n < 10 {
		t.Errorf("daemon relayed %d packets, want >= 10: the media did not cross it", n)
	}
	t.Logf("daemon relayed %d packets", n)
	_, _ = ng.Do(ctx, ngproto.Dict{"command": "delete", "call-id": "b2b"})
}

// withoutCandidates drops a peer's a=candidate lines.
func withoutCandidates(sdp string) string {
	var out []string
	for _, l := range strings.SplitAfter(sdp, "\n") {
		if !strings.HasPrefix(l, "a=candidate:") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// checkPassthrough checks the SDP the daemon wrote from in: the party's
// fingerprint and ICE credentials kept (DTLS and ICE end to end) and the
// daemon's relay candidates added.
func checkPassthrough(t *testing.T, step, in, out string) {
	t.Helper()
	for _, l := range strings.Split(in, "\r\n") {
		if strings.HasPrefix(l, "a=fingerprint:") || strings.HasPrefix(l, "a=ice-ufrag:") || strings.HasPrefix(l, "a=ice-pwd:") {
			if !strings.Contains(out, l+"\r\n") {
				t.Errorf("%s: %q not passed through:\n%s", step, l, out)
			}
		}
	}
	if !strings.Contains(out, " typ relay raddr ") {
		t.Errorf("%s: no relay candidate:\n%s", step, out)
	}
}

// pionPeer is a loopback-only pion peer with one PCMU track.
func pionPeer(t *testing.T) (*pion.PeerConnection, *pion.TrackLocalStaticRTP, chan string) {
	t.Helper()
	var se pion.SettingEngine
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetHandleUndeclaredSSRCWithoutAnswer(true)
	var me pion.MediaEngine
	if err := me.RegisterCodec(pion.RTPCodecParameters{
		RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0,
	}, pion.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	pc, err := pion.NewAPI(pion.WithSettingEngine(se), pion.WithMediaEngine(&me)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	track, err := pion.NewTrackLocalStaticRTP(pion.RTPCodecCapability{MimeType: pion.MimeTypePCMU, ClockRate: 8000}, "audio", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 64)
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case got <- string(p.Payload):
			default:
			}
		}
	})
	return pc, track, got
}

// sendUntil writes RTP with the payload msg on track until it arrives.
func sendUntil(ctx context.Context, t *testing.T, track *pion.TrackLocalStaticRTP, got chan string, msg string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for seq := uint16(1); ; seq++ {
		select {
		case p := <-got:
			if p == msg {
				return
			}
		case <-tick.C:
			if err := track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 160}, Payload: []byte(msg)}); err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal(fmt.Errorf("no media %s: %w", msg, ctx.Err()))
		}
	}
}
