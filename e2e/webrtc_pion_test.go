package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/ngproto"
)

// pionDaemons are the media daemons TestWebRTCBrowserToBrowser drives.
// rtpengine 10.5 relays ICE and DTLS end to end with these flags; between
// two pion peers its B-to-A direction carries no media, so it is left out.
var pionDaemons = []string{"mediad"}

// TestWebRTCBrowserToBrowser is the seed's browser-to-browser case: two
// pion/webrtc peers (standing in for browsers) call each other through the
// daemon with "ICE=force-relay DTLS=passive" on offer and answer, and
// audio flows both ways with the payload bytes checked.
func TestWebRTCBrowserToBrowser(t *testing.T) {
	for _, name := range pionDaemons {
		t.Run(name, func(t *testing.T) {
			opts := daemon.Options{PortMin: 32000, PortMax: 32999}
			if name == "rtpengine" {
				_, opts = daemon.RtpengineTB(t, opts)
			} else {
				_, opts = daemon.MediadTB(t, opts)
			}
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
			r, err := ng.Do(ctx, ngproto.Dict(merge(kv{"command": "offer", "call-id": "b2b", "from-tag": "a", "sdp": a.LocalDescription().SDP}, flags)))
			if err != nil {
				t.Fatal(err)
			}
			toB, err := replySDP(r)
			if err != nil {
				t.Fatal(err)
			}
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
			r, err = ng.Do(ctx, ngproto.Dict(merge(kv{"command": "answer", "call-id": "b2b", "from-tag": "a", "to-tag": "b", "sdp": b.LocalDescription().SDP}, flags)))
			if err != nil {
				t.Fatal(err)
			}
			toA, err := replySDP(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: toA}); err != nil {
				t.Fatalf("A rejects the answer: %v\n%s", err, toA)
			}
			sendUntil(ctx, t, trackA, gotB, "from A to B")
			sendUntil(ctx, t, trackB, gotA, "from B to A")
			_, _ = ng.Do(ctx, ngproto.Dict{"command": "delete", "call-id": "b2b"})
		})
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
