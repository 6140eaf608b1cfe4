package offload_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-audio/audio"
	"github.com/go-audio/wav"

	"sipmedia/kmod/nettopo"
	"sipmedia/ngproto"
)

// TestKernelPolicyNetns follows one call through the offload policy with
// the real daemon: kernelized at once with immediate learning, kept alive
// past the media timeout by kernel counters, back to userspace on hold,
// kernelized again on resume, moved to a new peer address by a re-offer,
// and finally timed out once the media stops.
func TestKernelPolicyNetns(t *testing.T) {
	t.Parallel()
	if why := nettopo.CanRun(); why != "" {
		t.Skip("kernel path test skipped: ", why)
	}
	bin := buildMediad(t)
	topo, err := nettopo.New()
	if err != nil {
		t.Skip("kernel path test skipped: cannot build the A-R-B namespaces: ", err)
	}
	t.Cleanup(func() { topo.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a, err := nettopo.ListenUDP(topo.A, peerA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := nettopo.ListenUDP(topo.B, peerB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	recDir := t.TempDir()
	d := startMediad(t, bin, topo, "--endpoint-learning=immediate", "--timeout", "3", "--recording-dir", recDir)
	ng := d.ng
	ra, rb := setupCall(ctx, t, ng, "call-p")
	waitKernelized(ctx, t, ng, "call-p", a, b, ra, rb)

	// Kernel-only media for longer than the 3 s media timeout.
	user0 := cliTotal(t, topo, "Total relayed packets (userspace)")
	for i := range 250 {
		a.WriteToUDPAddrPort(rtp(uint16(i)), ra)
		b.WriteToUDPAddrPort(rtp(uint16(i)), rb)
		time.Sleep(20 * time.Millisecond)
	}
	drain(a)
	drain(b)
	if q := query(ctx, t, ng, "call-p"); !hasFlag(q, "kernelized") {
		t.Fatalf("call not kernelized after 5 s of media: %v", q)
	}
	if u := cliTotal(t, topo, "Total relayed packets (userspace)"); u != user0 {
		t.Errorf("relay read %d packets of a kernelized call", u-user0)
	}

	// Hold (A sendonly, B recvonly): back to userspace.
	reoffer := func(from netip.AddrPort, dir, answerDir string, version int) {
		t.Helper()
		r, err := ng.Do(ctx, ngproto.Dict{"command": "offer", "call-id": "call-p", "from-tag": "ft", "to-tag": "tt",
			"sdp": sdpDir(from, dir, version), "direction": []any{"a", "b"}})
		if err != nil || r.Str("result") != "ok" {
			t.Fatalf("re-offer: %v %v", r, err)
		}
		r, err = ng.Do(ctx, ngproto.Dict{"command": "answer", "call-id": "call-p", "from-tag": "ft", "to-tag": "tt",
			"sdp": sdpDir(peerB, answerDir, version), "direction": []any{"a", "b"}})
		if err != nil || r.Str("result") != "ok" {
			t.Fatalf("re-answer: %v %v", r, err)
		}
	}
	reoffer(peerA, "sendonly", "recvonly", 2)
	if q := query(ctx, t, ng, "call-p"); hasFlag(q, "kernelized") {
		t.Errorf("still kernelized on hold: %v", q)
	}
	if got := exchange(t, a, ra, b, rb, 50); got != 50 {
		t.Errorf("on hold B received %d of A's 50 packets", got)
	}
	if u := cliTotal(t, topo, "Total relayed packets (userspace)"); u < user0+100 {
		t.Errorf("on hold the relay read %d packets, want the 100 sent", u-user0)
	}

	// Resume: kernelized again.
	reoffer(peerA, "sendrecv", "sendrecv", 3)
	waitKernelized(ctx, t, ng, "call-p", a, b, ra, rb)

	// Media played to B on the kernelized call: the player sends from
	// the daemon's socket beside the kernel's forwarding, which stays.
	toneFile := writeTone(t, 0.2)
	if r, err := ng.Do(ctx, ngproto.Dict{"command": "play media", "call-id": "call-p", "from-tag": "tt", "file": toneFile}); err != nil || r.Str("result") != "ok" {
		t.Fatalf("play media: %v %v", r, err)
	}
	played, relayed := 0, 0
	for i := range 20 {
		a.WriteToUDPAddrPort(rtp(uint16(i)), ra)
		time.Sleep(20 * time.Millisecond)
	}
	pbuf := make([]byte, 2048)
	for {
		b.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, _, err := b.ReadFromUDPAddrPort(pbuf)
		if err != nil {
			break
		}
		if n >= 12 && binary.BigEndian.Uint32(pbuf[8:]) == 0x1234 {
			relayed++
		} else {
			played++
		}
	}
	b.SetReadDeadline(time.Time{})
	if played != 10 || relayed != 20 {
		t.Errorf("B received %d packets of the 200 ms played and %d of A's 20, want 10 and 20", played, relayed)
	}
	if q := query(ctx, t, ng, "call-p"); !hasFlag(q, "kernelized") {
		t.Errorf("not kernelized any more after play media: %v", q)
	}

	// Blocking A's media: back to userspace, which drops A's RTP and
	// still relays B's; unblocking kernelizes the call again.
	command := func(cmd string) {
		t.Helper()
		r, err := ng.Do(ctx, ngproto.Dict{"command": cmd, "call-id": "call-p", "from-tag": "ft"})
		if err != nil || r.Str("result") != "ok" {
			t.Fatalf("%s: %v %v", cmd, r, err)
		}
	}
	command("block media")
	if q := query(ctx, t, ng, "call-p"); hasFlag(q, "kernelized") {
		t.Errorf("still kernelized with A's media blocked: %v", q)
	}
	if got := exchange(t, b, rb, a, ra, 50); got != 50 {
		t.Errorf("with A blocked A received %d of B's 50 packets", got)
	}
	if got := exchange(t, a, ra, b, rb, 50); got != 0 {
		t.Errorf("with A blocked B received %d of A's 50 packets", got)
	}
	command("unblock media")
	waitKernelized(ctx, t, ng, "call-p", a, b, ra, rb)

	// A subscription to A (a recorder on B's side): back to userspace,
	// which sends the subscriber a copy of each of A's packets; once
	// unsubscribed the call is kernelized again.
	sub, err := nettopo.ListenUDP(topo.B, netip.AddrPortFrom(nettopo.AddrB, 6100))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	r, err := ng.Do(ctx, ngproto.Dict{"command": "subscribe request", "call-id": "call-p", "from-tag": "ft", "to-tag": "rec"})
	if err != nil || r.Str("result") != "ok" {
		t.Fatalf("subscribe request: %v %v", r, err)
	}
	r, err = ng.Do(ctx, ngproto.Dict{"command": "subscribe answer", "call-id": "call-p", "to-tag": "rec",
		"sdp": sdpDir(netip.AddrPortFrom(nettopo.AddrB, 6100), "recvonly", 1)})
	if err != nil || r.Str("result") != "ok" {
		t.Fatalf("subscribe answer: %v %v", r, err)
	}
	if q := query(ctx, t, ng, "call-p"); hasFlag(q, "kernelized") {
		t.Errorf("still kernelized with a subscriber: %v", q)
	}
	if got := exchange(t, a, ra, b, rb, 50); got != 50 {
		t.Errorf("with a subscriber B received %d of A's 50 packets", got)
	}
	copies := 0
	for {
		sub.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, _, err := sub.ReadFromUDPAddrPort(pbuf); err != nil {
			break
		}
		copies++
	}
	if copies != 50 {
		t.Errorf("the subscriber received %d copies of A's 50 packets", copies)
	}
	r, err = ng.Do(ctx, ngproto.Dict{"command": "unsubscribe", "call-id": "call-p", "to-tag": "rec"})
	if err != nil || r.Str("result") != "ok" {
		t.Fatalf("unsubscribe: %v %v", r, err)
	}
	waitKernelized(ctx, t, ng, "call-p", a, b, ra, rb)

	// Recording the call: back to userspace, which writes every packet
	// to the pcap file; stopping the recording kernelizes the call again.
	command("start recording")
	if q := query(ctx, t, ng, "call-p"); hasFlag(q, "kernelized") {
		t.Errorf("still kernelized while recorded: %v", q)
	}
	if got := exchange(t, a, ra, b, rb, 50); got != 50 {
		t.Errorf("while recorded B received %d of A's 50 packets", got)
	}
	command("stop recording")
	pcaps, _ := filepath.Glob(filepath.Join(recDir, "pcaps", "*.pcap"))
	if len(pcaps) != 1 {
		t.Fatalf("recordings %q, want one", pcaps)
	}
	// The pcap header, then per packet a record header, IP and UDP.
	fi, err := os.Stat(pcaps[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(24 + 100*(16+28+len(rtp(0)))); fi.Size() != want {
		t.Errorf("recording of %d bytes, want %d: the 100 packets sent", fi.Size(), want)
	}
	waitKernelized(ctx, t, ng, "call-p", a, b, ra, rb)

	// An offer's TOS key other than the daemon's (none here) keeps the
	// call in userspace, which sets it on the sockets; dropping the key
	// brings the daemon's TOS back, and the kernel with it.
	r, err = ng.Do(ctx, ngproto.Dict{"command": "offer", "call-id": "call-p", "from-tag": "ft", "to-tag": "tt",
		"sdp": sdpDir(peerA, "sendrecv", 4), "direction": []any{"a", "b"}, "TOS": int64(32)})
	if err != nil || r.Str("result") != "ok" {
		t.Fatalf("re-offer with TOS: %v %v", r, err)
	}
	r, err = ng.Do(ctx, ngproto.Dict{"command": "answer", "call-id": "call-p", "from-tag": "ft", "to-tag": "tt",
		"sdp": sdpDir(peerB, "sendrecv", 4), "direction": []any{"a", "b"}})
	if err != nil || r.Str("result") != "ok" {
		t.Fatalf("re-answer: %v %v", r, err)
	}
	if got := exchange(t, a, ra, b, rb, 50); got != 50 {
		t.Errorf("with TOS 32 B received %d of A's 50 packets", got)
	}
	if q := query(ctx, t, ng, "call-p"); hasFlag(q, "kernelized") {
		t.Errorf("kernelized with a TOS of its own: %v", q)
	}
	reoffer(peerA, "sendrecv", "sendrecv", 5)
	waitKernelized(ctx, t, ng, "call-p", a, b, ra, rb)

	// A re-offer moving A to another port: the flow follows.
	a2, err := nettopo.ListenUDP(topo.A, netip.AddrPortFrom(nettopo.AddrA, 5002))
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	reoffer(netip.AddrPortFrom(nettopo.AddrA, 5002), "sendrecv", "sendrecv", 6)
	if q := query(ctx, t, ng, "call-p"); hasFlag(q, "kernelized") {
		t.Errorf("still kernelized right after A moved: %v", q)
	}
	waitKernelized(ctx, t, ng, "call-p", a2, b, ra, rb)
	in0, err := nettopo.UDPInDatagrams(topo.R)
	if err != nil {
		t.Fatal(err)
	}
	if got := exchange(t, a2, ra, b, rb, 100); got != 100 {
		t.Errorf("after the move B received %d of 100", got)
	}
	if in1, _ := nettopo.UDPInDatagrams(topo.R); in1 != in0 {
		t.Errorf("after the move R's sockets received %d datagrams: not bypassed", in1-in0)
	}

	// Set up for DTMF injection: back to userspace, for good (the flag
	// stays), where play DTMF puts the digit's tone into A's audio
	// toward B in place of A's packets.
	r, err = ng.Do(ctx, ngproto.Dict{"command": "offer", "call-id": "call-p", "from-tag": "ft", "to-tag": "tt",
		"sdp": sdpDir(netip.AddrPortFrom(nettopo.AddrA, 5002), "sendrecv", 7), "direction": []any{"a", "b"}, "flags": []any{"inject DTMF"}})
	if err != nil || r.Str("result") != "ok" {
		t.Fatalf("re-offer with inject DTMF: %v %v", r, err)
	}
	if q := query(ctx, t, ng, "call-p"); hasFlag(q, "kernelized") {
		t.Errorf("still kernelized with inject DTMF: %v", q)
	}
	if r, err := ng.Do(ctx, ngproto.Dict{"command": "play DTMF", "call-id": "call-p", "from-tag": "ft", "digit": "1", "duration": 200}); err != nil || r.Str("result") != "ok" || r.Str("warning") != "" {
		t.Fatalf("play DTMF: %v %v", r, err)
	}
	tone, quiet := 0, 0
	for i := range 30 {
		a2.WriteToUDPAddrPort(rtp(uint16(i)), ra)
		b.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 2048)
		n, _, err := b.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("packet %d of A's after play DTMF: %v", i, err)
		}
		switch pl := buf[12:n]; {
		case n != len(rtp(0)) || bytes.Equal(pl, rtp(0)[12:]):
		case bytes.Count(pl, []byte{0xff}) == len(pl):
			quiet++
		default:
			tone++
		}
	}
	if tone != 10 || quiet != 5 { // 200 ms and the 100 ms pause, in 20 ms packets
		t.Errorf("B received %d packets of tone and %d of silence, want 10 and 5", tone, quiet)
	}

	// No media: the call times out (kernel counters flat).
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := ng.Do(ctx, ngproto.Dict{"command": "query", "call-id": "call-p"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Str("result") != "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kernelized call without media did not time out: %v", r)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if legs := mapElements(t, topo, "leg"); legs != "" {
		t.Errorf("flows left in the table after the timeout: %s", legs)
	}
	d.stop(t, syscall.SIGTERM)
	if tableExists(t, topo) {
		t.Error("table still present after SIGTERM")
	}
}

// TestKernelIPv6Netns: an IPv6 call goes through the daemon's second
// (ip6) table.
func TestKernelIPv6Netns(t *testing.T) {
	t.Parallel()
	if why := nettopo.CanRun(); why != "" {
		t.Skip("kernel path test skipped: ", why)
	}
	bin := buildMediad(t)
	topo, err := nettopo.New()
	if err != nil {
		t.Skip("kernel path test skipped: cannot build the A-R-B namespaces: ", err)
	}
	t.Cleanup(func() { topo.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pa, pb := netip.AddrPortFrom(nettopo.Addr6A, 5000), netip.AddrPortFrom(nettopo.Addr6B, 6000)
	a, err := nettopo.ListenUDP(topo.A, pa)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := nettopo.ListenUDP(topo.B, pb)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d := startMediad(t, bin, topo, "--endpoint-learning=immediate")
	ra, rb := setupCallFor(ctx, t, d.ng, "call-6", pa, pb, nettopo.Addr6RA, nettopo.Addr6RB)
	waitKernelized(ctx, t, d.ng, "call-6", a, b, ra, rb)
	in0, err := nettopo.UDPInDatagrams(topo.R)
	if err != nil {
		t.Fatal(err)
	}
	if got := exchange(t, a, ra, b, rb, 100); got != 100 {
		t.Errorf("B received %d of 100 over IPv6", got)
	}
	if in1, _ := nettopo.UDPInDatagrams(topo.R); in1 != in0 {
		t.Errorf("R's sockets received %d IPv6 datagrams: not bypassed", in1-in0)
	}
	d.stop(t, syscall.SIGTERM)
}

// writeTone writes a WAV file of a 1 kHz tone lasting secs (8 kHz,
// 16-bit mono) for play media.
func writeTone(t *testing.T, secs float64) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "tone.wav")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := wav.NewEncoder(f, 8000, 16, 1, 1)
	buf := &audio.IntBuffer{Format: &audio.Format{NumChannels: 1, SampleRate: 8000}, SourceBitDepth: 16}
	for i := range int(8000 * secs) {
		buf.Data = append(buf.Data, int(8000*math.Sin(2*math.Pi*1000*float64(i)/8000)))
	}
	if err := e.Write(buf); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return name
}
