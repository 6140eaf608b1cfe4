package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/ngproto"
	"sipmedia/ngproto/testport"
)

// The media the blocking test sends: PCMU voice, RFC 4733 events and RTCP
// sender reports, each recognisable at the receiver.
const (
	blkVoice = "voice"   // PCMU, payload of 0x55 bytes
	blkQuiet = "silence" // PCMU whose payload the daemon replaced by 0xff
	blkDTMF  = "dtmf"    // telephone-event
	blkRTCP  = "rtcp"
)

// blockParty is one plain-RTP phone of the blocking test: its RTP and
// RTCP sockets and where the daemon told it to send.
type blockParty struct {
	tag        string
	rtp, rtcp  *net.UDPConn
	to, toRTCP netip.AddrPort // the daemon's ports for this party
	ssrc       uint32
	seq        uint16
}

func newBlockParty(t *testing.T, tag string, ssrc uint32) *blockParty {
	t.Helper()
	// An even port with the next one free, as RTP and RTCP want.
	for range 50 {
		rtp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := rtp.LocalAddr().(*net.UDPAddr).Port
		if p%2 == 1 {
			rtp.Close()
			continue
		}
		rtcp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 1})
		if err != nil {
			rtp.Close()
			continue
		}
		bp := &blockParty{tag: tag, rtp: rtp, rtcp: rtcp, ssrc: ssrc}
		t.Cleanup(func() { rtp.Close(); rtcp.Close() })
		return bp
	}
	t.Fatal("no free RTP/RTCP port pair")
	return nil
}

func (p *blockParty) sdp(sess int) string {
	port := p.rtp.LocalAddr().(*net.UDPAddr).Port
	return sdp(fmt.Sprintf(`
v=0
o=- %d 1 IN IP4 127.0.0.1
s=-
t=0 0
m=audio %d RTP/AVP 0 101
c=IN IP4 127.0.0.1
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
`, sess, port))
}

// newBlockCall sets up callID between two new phones, a offering (with
// extra keys) and b answering.
func newBlockCall(t *testing.T, ng, callID string, extra kv) (a, b *blockParty) {
	t.Helper()
	a, b = newBlockParty(t, "ta", 0x1111), newBlockParty(t, "tb", 0x2222)
	negotiate(t, ng, callID, a, b, extra)
	return a, b
}

// negotiate runs an offer from a (with extra keys) and b's answer, and
// tells each phone where the daemon wants its media.
func negotiate(t *testing.T, ng, callID string, a, b *blockParty, extra kv) {
	t.Helper()
	r := ngDo(t, ng, offer(callID, a.tag, a.sdp(1), extra))
	b.learn(t, r.Str("sdp"))
	r = ngDo(t, ng, answer(callID, a.tag, b.tag, b.sdp(2), nil))
	a.learn(t, r.Str("sdp"))
}

// learn reads the daemon's address for this party from the SDP the
// daemon sent it.
func (p *blockParty) learn(t *testing.T, s string) {
	t.Helper()
	var addr netip.Addr
	port := 0
	for _, l := range strings.Split(s, "\r\n") {
		if a, ok := strings.CutPrefix(l, "c=IN IP4 "); ok {
			addr = netip.MustParseAddr(a)
		}
		if m, ok := strings.CutPrefix(l, "m=audio "); ok {
			port, _ = strconv.Atoi(strings.Fields(m)[0])
		}
	}
	if !addr.IsValid() || port == 0 {
		t.Fatalf("no address in the daemon's SDP:\n%s", s)
	}
	p.to = netip.AddrPortFrom(addr, uint16(port))
	p.toRTCP = netip.AddrPortFrom(addr, uint16(port+1))
}

// send sends one voice packet, one event and one RTCP report.
func (p *blockParty) send(t *testing.T) {
	t.Helper()
	for _, pt := range []byte{0, 101} {
		p.seq++
		pkt := make([]byte, 12, 12+160)
		pkt[0], pkt[1] = 0x80, pt
		binary.BigEndian.PutUint16(pkt[2:], p.seq)
		binary.BigEndian.PutUint32(pkt[4:], uint32(p.seq)*160)
		binary.BigEndian.PutUint32(pkt[8:], p.ssrc)
		if pt == 0 {
			pkt = append(pkt, bytes.Repeat([]byte{0x55}, 160)...)
		} else {
			pkt = append(pkt, 5, 10, 0, 160) // digit 5, volume 10, 160 samples
		}
		if _, err := p.rtp.WriteToUDPAddrPort(pkt, p.to); err != nil {
			t.Fatal(err)
		}
	}
	sr := make([]byte, 28)
	sr[0], sr[1] = 0x80, 200
	binary.BigEndian.PutUint16(sr[2:], 6)
	binary.BigEndian.PutUint32(sr[4:], p.ssrc)
	if _, err := p.rtcp.WriteToUDPAddrPort(sr, p.toRTCP); err != nil {
		t.Fatal(err)
	}
}

// received drains the party's sockets until they are quiet for 250 ms
// (a loaded machine, tests of other packages running beside, delays a
// relayed packet by tens of milliseconds) and names what arrived.
func (p *blockParty) received(t *testing.T) map[string]int { return receivedBy(t, p)[0] }

// receivedBy is received for several parties, their sockets drained at
// once.
func receivedBy(t *testing.T, ps ...*blockParty) []map[string]int {
	t.Helper()
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = make([]map[string]int, len(ps))
	)
	for i, p := range ps {
		out[i] = map[string]int{}
		for _, c := range []*net.UDPConn{p.rtp, p.rtcp} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				eachDatagram(c, 250*time.Millisecond, func(b []byte) {
					mu.Lock()
					out[i][blockKind(b)]++
					mu.Unlock()
				})
			}()
		}
	}
	wg.Wait()
	return out
}

// eachDatagram calls fn with each datagram that reaches c until none has
// come for quiet.
func eachDatagram(c *net.UDPConn, quiet time.Duration, fn func(b []byte)) {
	buf := make([]byte, 2048)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		fn(buf[:n])
	}
}

// onBothDaemons runs fn as parallel subtests on mediad and on rtpengine,
// each daemon started with extra options and a media range of its own.
func onBothDaemons(t *testing.T, extra []string, fn func(t *testing.T, name, ng string)) {
	onBothDaemonsWith(t, func(string) []string { return extra }, fn)
}

// udpSinks opens a UDP socket on 127.0.0.1 per daemon of onBothDaemons,
// for what a daemon sends to an address of its options (DTMF log, Homer).
func udpSinks(t *testing.T) map[string]*net.UDPConn {
	t.Helper()
	out := map[string]*net.UDPConn{}
	for _, name := range []string{"mediad", "rtpengine"} {
		c := testport.UDP(t)
		out[name] = c
	}
	return out
}

// compareOnBoth runs fn on mediad and on rtpengine as onBothDaemons does,
// in a subtest so that both runs have ended when it returns, and returns
// what each gave, for the caller to compare.
func compareOnBoth[T any](t *testing.T, extra []string, fn func(t *testing.T, name, ng string) T) (mediad, rtpengine T) {
	t.Helper()
	var mu sync.Mutex
	out := map[string]T{}
	t.Run("daemons", func(t *testing.T) {
		onBothDaemons(t, extra, func(t *testing.T, name, ng string) {
			o := fn(t, name, ng)
			mu.Lock()
			out[name] = o
			mu.Unlock()
		})
	})
	m, okm := out["mediad"]
	r, okr := out["rtpengine"]
	if !okm || !okr {
		t.Fatal("a daemon's run did not finish")
	}
	return m, r
}

// onBothDaemonsWith is onBothDaemons with options that differ by daemon.
func onBothDaemonsWith(t *testing.T, extra func(name string) []string, fn func(t *testing.T, name, ng string)) {
	setup := func(t *testing.T, name string, o *daemon.Options) { o.Extra = extra(name) }
	onBothDaemonsOpts(t, setup, func(t *testing.T, name string, o daemon.Options) { fn(t, name, o.NG) })
}

// onBothDaemonsOpts is onBothDaemons where setup completes each daemon's
// options (within its subtest) and fn gets them as the daemon runs.
func onBothDaemonsOpts(t *testing.T, setup func(t *testing.T, name string, o *daemon.Options), fn func(t *testing.T, name string, o daemon.Options)) {
	for i, name := range []string{"mediad", "rtpengine"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			base := callsMediadA + 100*i
			o := daemon.Options{PortMin: base, PortMax: base + 99}
			setup(t, name, &o)
			_, o = daemon.ByNameTB(t, name, o)
			fn(t, name, o)
		})
	}
}

func blockKind(b []byte) string {
	switch {
	case len(b) < 12:
		return "short"
	case bytes.Equal(b, pierceRTP):
		return "pierce"
	case b[1] >= 200 && b[1] <= 204:
		return blkRTCP
	case b[1]&0x7f == 101:
		return blkDTMF
	case b[1]&0x7f == 0 && len(b) > 12 && bytes.Count(b[12:], []byte{0xff}) == len(b)-12:
		return blkQuiet
	case b[1]&0x7f == 0:
		return blkVoice
	}
	return "other"
}

// TestMediaBlocking runs rtpengine's block media, silence media and block
// DTMF commands against rtpengine and mediad on one call between two
// plain-RTP phones: after each command both phones send voice, an event
// and RTCP, and what each receives must be the same on both daemons
// (the expectations were read off rtpengine 10.5).
func TestMediaBlocking(t *testing.T) {
	onBothDaemons(t, nil, func(t *testing.T, name, ng string) {
		callID := "blk-" + name
		a, b := newBlockCall(t, ng, callID, nil)
		// Latch both directions first.
		for range 3 {
			a.send(t)
			b.send(t)
		}
		receivedBy(t, a, b)

		all := map[string]int{blkVoice: 1, blkDTMF: 1, blkRTCP: 1}
		quiet := map[string]int{blkQuiet: 1, blkDTMF: 1, blkRTCP: 1}
		noDTMF := map[string]int{blkVoice: 1, blkRTCP: 1}
		noVoice := map[string]int{blkDTMF: 1, blkRTCP: 1}
		steps := []struct {
			name     string
			cmd      ngproto.Dict // nil: just send
			err      string       // expected error-reason
			atA, atB map[string]int
		}{
			{name: "baseline", atA: all, atB: all},
			{name: "block media", cmd: dict("block media", kv{"call-id": callID}), atA: noVoice, atB: noVoice},
			{name: "unblock media", cmd: dict("unblock media", kv{"call-id": callID}), atA: all, atB: all},
			{name: "block media from a", cmd: dict("block media", kv{"call-id": callID, "from-tag": a.tag}), atA: all, atB: noVoice},
			// Unblocking the whole call leaves a party's own block.
			{name: "unblock media call", cmd: dict("unblock media", kv{"call-id": callID}), atA: all, atB: noVoice},
			{name: "unblock media all", cmd: dict("unblock media", kv{"call-id": callID, "flags": []string{"all"}}), atA: all, atB: all},
			{name: "block DTMF", cmd: dict("block DTMF", kv{"call-id": callID}), atA: noDTMF, atB: noDTMF},
			{name: "unblock DTMF", cmd: dict("unblock DTMF", kv{"call-id": callID}), atA: all, atB: all},
			{name: "block DTMF from b", cmd: dict("block DTMF", kv{"call-id": callID, "from-tag": b.tag}), atA: noDTMF, atB: all},
			{name: "unblock DTMF from b", cmd: dict("unblock DTMF", kv{"call-id": callID, "from-tag": b.tag}), atA: all, atB: all},
			{name: "silence media from b", cmd: dict("silence media", kv{"call-id": callID, "from-tag": b.tag}), atA: quiet, atB: all},
			{name: "unsilence media from b", cmd: dict("unsilence media", kv{"call-id": callID, "from-tag": b.tag}), atA: all, atB: all},
			{name: "silence media", cmd: dict("silence media", kv{"call-id": callID}), atA: quiet, atB: quiet},
			{name: "unsilence media", cmd: dict("unsilence media", kv{"call-id": callID}), atA: all, atB: all},
			{name: "block media by address", cmd: dict("block media", kv{"call-id": callID, "address": "127.0.0.1"}), atA: all, atB: noVoice},
			{name: "unblock media by address", cmd: dict("unblock media", kv{"call-id": callID, "address": "127.0.0.1"}), atA: all, atB: all},
			{name: "unknown call", cmd: dict("block media", kv{"call-id": "nosuch"}), err: "Unknown call-ID"},
			{name: "unknown tag", cmd: dict("block media", kv{"call-id": callID, "from-tag": "nosuch"}), err: "From-tag given, but no such tag exists"},
			{name: "unknown label", cmd: dict("silence media", kv{"call-id": callID, "label": "nosuch"}), err: "No monologue matching the given label"},
			{name: "bad address", cmd: dict("block DTMF", kv{"call-id": callID, "address": "nowhere"}), err: "Failed to parse network address"},
			{name: "unmatched address", cmd: dict("block DTMF", kv{"call-id": callID, "address": "127.0.0.9"}), err: "Failed to match address to any tag"},
			{name: "no call-id", cmd: dict("unblock DTMF", kv{}), err: "No call-id in message"},
			{name: "after errors", atA: all, atB: all},
		}
		for _, s := range steps {
			if s.cmd != nil {
				r := ngDo(t, ng, s.cmd)
				if got := r.Str("result"); s.err == "" && got != "ok" || s.err != "" && (got != "error" || r.Str("error-reason") != s.err) {
					t.Errorf("%s: reply %v, want %q", s.name, r, s.err)
				}
			}
			if s.atA == nil {
				continue
			}
			a.send(t)
			b.send(t)
			got := receivedBy(t, a, b)
			if fmt.Sprint(got[0]) != fmt.Sprint(s.atA) {
				t.Errorf("%s: a received %v, want %v", s.name, got[0], s.atA)
			}
			if fmt.Sprint(got[1]) != fmt.Sprint(s.atB) {
				t.Errorf("%s: b received %v, want %v", s.name, got[1], s.atB)
			}
		}
		ngDo(t, ng, del(callID, nil))
	})
}
