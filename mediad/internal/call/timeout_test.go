package call

import (
	"testing"
	"time"
)

func TestRelaySilentTimeout(t *testing.T) {
	r, _ := newRelayReg(t, Config{Timeout: time.Minute, SilentTimeout: time.Hour})
	a, b := newPhone(t), newPhone(t)
	// Both parties inactive: only the silent timeout applies.
	if _, err := r.Offer(&Params{CallID: "silent", FromTag: "a", SDP: a.sdp("inactive")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Answer(&Params{CallID: "silent", FromTag: "a", ToTag: "b", SDP: b.sdp("inactive")}); err != nil {
		t.Fatal(err)
	}
	// A call with active directions and no media goes after Timeout.
	setupRelayCall(t, r, "quiet", newPhone(t), newPhone(t), nil)
	r.sweep(time.Now().Add(30 * time.Minute))
	if _, err := r.Query("silent", "", ""); err != nil {
		t.Fatal("inactive call deleted by the media timeout")
	}
	if _, err := r.Query("quiet", "", ""); err == nil {
		t.Fatal("call without media survived the media timeout")
	}
	if n := r.Counters().Timeout.Load(); n != 1 {
		t.Errorf("TIMEOUT counter %d, want 1", n)
	}
	r.sweep(time.Now().Add(2 * time.Hour))
	if _, err := r.Query("silent", "", ""); err == nil {
		t.Fatal("inactive call not deleted by the silent timeout")
	}
	if n := r.Counters().SilentTimeout.Load(); n != 1 {
		t.Errorf("SILENT_TIMEOUT counter %d, want 1", n)
	}
}

func TestRelayFinalTimeout(t *testing.T) {
	r, _ := newRelayReg(t, Config{FinalTimeout: time.Hour})
	c := setupRelayCall(t, r, "final", newPhone(t), newPhone(t), nil)
	send(t, c.a.rtp, c.toA, rtpPkt)
	recv(t, c.b.rtp, rtpPkt, c.toB)
	r.sweep(time.Now().Add(30 * time.Minute))
	if r.Len() != 1 {
		t.Fatal("call deleted before the final timeout")
	}
	r.sweep(time.Now().Add(2 * time.Hour))
	if n := r.Counters().FinalTimeout.Load(); n != 1 || r.Len() != 0 {
		t.Errorf("FINAL_TIMEOUT counter %d, %d calls left", n, r.Len())
	}
}
