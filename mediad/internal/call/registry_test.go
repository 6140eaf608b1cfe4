package call

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"sipmedia/mediad/internal/ports"
	"sipmedia/mediad/internal/sysload"
)

const offerSDP = "v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n" +
	"m=audio 2000 RTP/AVP 0 8\r\nm=video 2002 RTP/AVP 31\r\n"
const answerSDP = "v=0\r\no=- 2 1 IN IP4 198.51.100.3\r\ns=-\r\nc=IN IP4 198.51.100.3\r\nt=0 0\r\n" +
	"m=audio 3000 RTP/AVP 0\r\nm=video 3002 RTP/AVP 31\r\n"

// testPortBase spreads the packages' tests over distinct ranges so they can
// run in parallel with other packages' tests.
const testPortBase = 45000

func newRegB(b *testing.B) (*Registry, *ports.Allocator) {
	alloc, err := ports.New(testPortBase+2000, testPortBase+3999, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := NewRegistry(Config{Interfaces: []Interface{{Name: "default", Address: netip.MustParseAddr("127.0.0.77")}}}, alloc, nil)
	b.Cleanup(r.Close)
	return r, alloc
}

func newReg(t *testing.T, cfg Config, min, max int) (*Registry, *ports.Allocator) {
	t.Helper()
	alloc, err := ports.New(min, max, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Interfaces == nil {
		// 127.0.0.77: other test suites on this machine hold many ports on
		// 127.0.0.1; exact-capacity tests need a quiet address.
		cfg.Interfaces = []Interface{{Name: "default", Address: netip.MustParseAddr("127.0.0.77")}}
	}
	r := NewRegistry(cfg, alloc, nil)
	t.Cleanup(func() {
		r.Close()
		if n := alloc.InUse(); n != 0 {
			t.Errorf("%d ports leaked", n)
		}
	})
	return r, alloc
}

var mPort = regexp.MustCompile(`(?m)^m=\w+ (\d+) `)

func mediaPorts(t *testing.T, sdp string) []int {
	t.Helper()
	var out []int
	for _, m := range mPort.FindAllStringSubmatch(sdp, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

func offer(t *testing.T, r *Registry, id, from, to, sdp string) string {
	t.Helper()
	out, err := r.Offer(&Params{CallID: id, FromTag: from, ToTag: to, SDP: sdp})
	if err != nil {
		t.Fatalf("offer %s: %v", id, err)
	}
	return out
}

func answer(t *testing.T, r *Registry, id, from, to, sdp string) string {
	t.Helper()
	out, err := r.Answer(&Params{CallID: id, FromTag: from, ToTag: to, SDP: sdp})
	if err != nil {
		t.Fatalf("answer %s: %v", id, err)
	}
	return out
}

func TestReofferKeepsPorts(t *testing.T) {
	r, alloc := newReg(t, Config{}, testPortBase, testPortBase+99)
	o1 := mediaPorts(t, offer(t, r, "c", "a", "", offerSDP))
	a1 := mediaPorts(t, answer(t, r, "c", "a", "b", answerSDP))
	if len(o1) != 2 || len(a1) != 2 {
		t.Fatalf("ports %v %v", o1, a1)
	}
	for _, p := range append(o1, a1...) {
		if p%2 != 0 || p < testPortBase || p > testPortBase+99 {
			t.Errorf("port %d odd or out of range", p)
		}
	}
	inUse := alloc.InUse()
	// re-INVITE from the caller, then from the callee: same ports.
	o2 := mediaPorts(t, offer(t, r, "c", "a", "b", offerSDP))
	a2 := mediaPorts(t, answer(t, r, "c", "a", "b", answerSDP))
	o3 := mediaPorts(t, offer(t, r, "c", "b", "a", answerSDP))
	a3 := mediaPorts(t, answer(t, r, "c", "b", "a", offerSDP))
	if fmt.Sprint(o1) != fmt.Sprint(o2) || fmt.Sprint(a1) != fmt.Sprint(a2) {
		t.Errorf("re-offer changed ports: %v/%v -> %v/%v", o1, a1, o2, a2)
	}
	if fmt.Sprint(o3) != fmt.Sprint(a1) || fmt.Sprint(a3) != fmt.Sprint(o1) {
		t.Errorf("callee re-offer: %v %v, want %v %v", o3, a3, a1, o1)
	}
	if alloc.InUse() != inUse {
		t.Errorf("re-offers allocated ports: %d -> %d", inUse, alloc.InUse())
	}
	if inUse != 8 { // 2 parties x 2 media x (RTP+RTCP)
		t.Errorf("in use %d, want 8", inUse)
	}
}

func TestDeleteFreesPorts(t *testing.T) {
	r, alloc := newReg(t, Config{}, testPortBase+100, testPortBase+199)
	offer(t, r, "c", "a", "", offerSDP)
	answer(t, r, "c", "a", "b", answerSDP)
	st, err := r.Delete(DeleteParams{CallID: "c", FromTag: "a"})
	if err != nil || st == nil || len(st.Tags) != 2 {
		t.Fatalf("delete: %v %+v", err, st)
	}
	if alloc.InUse() != 0 || r.Len() != 0 {
		t.Errorf("after delete: %d ports, %d calls", alloc.InUse(), r.Len())
	}
	if _, err := r.Delete(DeleteParams{CallID: "c"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := r.Query("c", "", ""); !errors.Is(err, ErrUnknownCall) {
		t.Errorf("query after delete: %v", err)
	}
}

func TestDeleteTags(t *testing.T) {
	r, _ := newReg(t, Config{}, testPortBase+200, testPortBase+299)
	setup := func(id string) {
		offer(t, r, id, "a", "", offerSDP)
		answer(t, r, id, "a", "b", answerSDP)
	}
	setup("c1")
	for _, dp := range []DeleteParams{
		{CallID: "c1", FromTag: "x"},
		{CallID: "c1", FromTag: "a", ToTag: "x", UseToTag: true},
		{CallID: "nope"},
	} {
		if _, err := r.Delete(dp); !errors.Is(err, ErrNotFound) {
			t.Errorf("%+v: err %v, want not found", dp, err)
		}
	}
	if r.Len() != 1 {
		t.Fatalf("unmatched deletes removed the call")
	}
	// The callee's tag deletes the dialogue, hence the call.
	if _, err := r.Delete(DeleteParams{CallID: "c1", FromTag: "b", ToTag: "a", UseToTag: true}); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Errorf("to-tag delete left the call")
	}
	// A via-branch alone deletes the call (as rtpengine 10.5 does).
	if _, err := r.Offer(&Params{CallID: "c2", FromTag: "a", ViaBranch: "z9hG4bK1", SDP: offerSDP}); err != nil {
		t.Fatal(err)
	}
	st, _ := r.Query("c2", "", "")
	if len(st.Tags) != 2 || st.Tags[1].ViaBranch != "z9hG4bK1" || st.Tags[1].Key != "<untagged 1>" {
		t.Errorf("via-branch not on the pending party: %+v", st.Tags)
	}
	if _, err := r.Delete(DeleteParams{CallID: "c2", ViaBranch: "z9hG4bK1", Fast: true}); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Errorf("via-branch delete left the call")
	}
}

func TestDeleteDelayAndTimers(t *testing.T) {
	r, alloc := newReg(t, Config{DeleteDelay: 30 * time.Second, OfferTimeout: time.Hour, Timeout: time.Minute},
		testPortBase+300, testPortBase+399)
	offer(t, r, "c", "a", "", offerSDP)
	answer(t, r, "c", "a", "b", answerSDP)
	if _, err := r.Delete(DeleteParams{CallID: "c", FromTag: "a"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r.sweep(now.Add(10 * time.Second))
	if r.Len() != 1 {
		t.Fatal("deleted before the delay")
	}
	// A new offer cancels the pending deletion, as in rtpengine.
	offer(t, r, "c", "a", "b", offerSDP)
	r.sweep(now.Add(31 * time.Second))
	if r.Len() != 1 {
		t.Fatal("re-offer did not cancel the delete")
	}
	if _, err := r.Delete(DeleteParams{CallID: "c", Delay: 5 * time.Second, HasDelay: true}); err != nil {
		t.Fatal(err)
	}
	r.sweep(time.Now().Add(6 * time.Second))
	if r.Len() != 0 || alloc.InUse() != 0 {
		t.Fatalf("delete delay: %d calls, %d ports", r.Len(), alloc.InUse())
	}

	// Offer timeout: never answered.
	offer(t, r, "o", "a", "", offerSDP)
	r.sweep(time.Now().Add(59 * time.Minute))
	if r.Len() != 1 {
		t.Fatal("offer timed out early")
	}
	r.sweep(time.Now().Add(61 * time.Minute))
	if r.Len() != 0 || r.Counters().OfferTimeout.Load() != 1 {
		t.Fatalf("offer timeout: %d calls", r.Len())
	}

	// Media timeout counts from the last packet the relay saw.
	offer(t, r, "m", "a", "", offerSDP)
	answer(t, r, "m", "a", "b", answerSDP)
	c := r.lookup("m")
	s := c.monologues[0].Medias[0].Streams[0]
	c.mu.Unlock()
	s.Received(172, time.Now().Add(50*time.Second))
	if st, _ := r.Query("m", "", ""); st.RTP.Packets != 1 || st.RTP.Bytes != 172 {
		t.Errorf("totals %+v", st.RTP)
	}
	r.sweep(time.Now().Add(100 * time.Second))
	if r.Len() != 1 {
		t.Fatal("timed out despite recent packets")
	}
	r.sweep(time.Now().Add(111 * time.Second))
	if r.Len() != 0 || r.Counters().Timeout.Load() != 1 {
		t.Fatal("media timeout did not delete the call")
	}
}

func TestRanOutOfPortsLeaksNothing(t *testing.T) {
	// 4 pairs: one call with two media needs 4 pairs (both sides).
	r, alloc := newReg(t, Config{}, testPortBase+400, testPortBase+407)
	offer(t, r, "c1", "a", "", offerSDP)
	if alloc.InUse() != 8 {
		t.Fatalf("in use %d", alloc.InUse())
	}
	_, err := r.Offer(&Params{CallID: "c2", FromTag: "a", SDP: offerSDP})
	if !errors.Is(err, ErrNoPorts) {
		t.Fatalf("err %v, want ErrNoPorts", err)
	}
	if r.Len() != 1 || alloc.InUse() != 8 {
		t.Errorf("failed offer left %d calls, %d ports", r.Len(), alloc.InUse())
	}
	// A re-offer adding a media on the full call fails and keeps the call.
	three := offerSDP + "m=audio 2004 RTP/AVP 0\r\n"
	if _, err := r.Offer(&Params{CallID: "c1", FromTag: "a", SDP: three}); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("re-offer err %v", err)
	}
	if r.Len() != 1 || alloc.InUse() != 8 {
		t.Errorf("failed re-offer: %d calls, %d ports", r.Len(), alloc.InUse())
	}
	if _, err := r.Delete(DeleteParams{CallID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if alloc.InUse() != 0 {
		t.Errorf("ports after delete: %d", alloc.InUse())
	}
}

func TestSessionLimit(t *testing.T) {
	r, _ := newReg(t, Config{MaxSessions: 1}, testPortBase+500, testPortBase+599)
	offer(t, r, "c1", "a", "", offerSDP)
	if _, err := r.Offer(&Params{CallID: "c2", FromTag: "a", SDP: offerSDP}); !errors.Is(err, ErrSessionLimit) {
		t.Fatalf("err %v", err)
	}
	offer(t, r, "c1", "a", "", offerSDP) // existing call still works
}

// TestLoadLimit: max-load and max-cpu refuse new calls only, in
// rtpengine's order, from what the sampler last read (here from files).
func TestLoadLimit(t *testing.T) {
	dir := t.TempDir()
	proc := func(load, stat string) {
		t.Helper()
		for name, b := range map[string]string{"loadavg": load, "stat": stat} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	s := sysload.New(dir)
	proc("0.50 0 0 1/1 1\n", "cpu  100 0 0 900\n")
	if err := s.Sample(); err != nil {
		t.Fatal(err)
	}
	r, _ := newReg(t, Config{MaxLoad: 2, MaxCPU: 80, Load: s}, testPortBase+500, testPortBase+599)
	offer(t, r, "c1", "a", "", offerSDP)
	for _, c := range []struct {
		load, stat string
		want       error
	}{
		{"2.00 0 0 1/1 1\n", "cpu  200 0 0 1800\n", ErrLoadLimit}, // 10% CPU
		{"1.99 0 0 1/1 1\n", "cpu  290 0 0 1810\n", ErrCPULimit},  // 90% CPU
		{"9.00 0 0 1/1 1\n", "cpu  380 0 0 1820\n", ErrLoadLimit}, // both: load first
		{"1.00 0 0 1/1 1\n", "cpu  390 0 0 1910\n", nil},          // 10% CPU
	} {
		proc(c.load, c.stat)
		if err := s.Sample(); err != nil {
			t.Fatal(err)
		}
		_, err := r.Offer(&Params{CallID: "c2", FromTag: "a", SDP: offerSDP})
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Fatalf("load %s cpu %.0f%%: %v, want %v", c.load[:4], s.CPUUsage(), err, c.want)
		}
		offer(t, r, "c1", "a", "", offerSDP) // the existing call still works
	}
}

func TestAnswerErrors(t *testing.T) {
	r, _ := newReg(t, Config{}, testPortBase+600, testPortBase+699)
	if _, err := r.Answer(&Params{CallID: "x", FromTag: "a", ToTag: "b", SDP: answerSDP}); !errors.Is(err, ErrUnknownCall) {
		t.Errorf("unknown call: %v", err)
	}
	for sdp, want := range map[string]error{
		"garbage":                           ErrParseSDP,
		"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n": ErrRewriteSDP,
		"v=0\r\nm=audio 1 RTP/AVP 0\r\n":    ErrIncompleteSDP,
	} {
		if _, err := r.Offer(&Params{CallID: "x", FromTag: "a", SDP: sdp}); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", sdp, err, want)
		}
	}
	if r.Len() != 0 {
		t.Errorf("failed offers created calls")
	}
}

func TestForwardingSnapshots(t *testing.T) {
	r, _ := newReg(t, Config{}, testPortBase+700, testPortBase+799)
	offer(t, r, "c", "a", "", offerSDP)
	answer(t, r, "c", "a", "b", answerSDP)
	c := r.lookup("c")
	a, b := c.monologues[0], c.monologues[1]
	c.mu.Unlock()
	fa := a.Medias[0].Streams[0].Forwarding()
	fb := b.Medias[0].Streams[0].Forwarding()
	if fa == nil || fb == nil || fa.Sink != b.Medias[0].Streams[0] || fb.Sink != a.Medias[0].Streams[0] {
		t.Fatalf("sinks not crossed: %+v %+v", fa, fb)
	}
	if fa.Peer != netip.MustParseAddrPort("198.51.100.1:2000") || fb.Peer != netip.MustParseAddrPort("198.51.100.3:3000") {
		t.Errorf("peers %v %v", fa.Peer, fb.Peer)
	}
	rtp, rtcp := a.Medias[0].Streams[0].Pair.Conns(a.Medias[0].Streams[0].LocalAddr)
	if rtp == nil || rtcp == nil {
		t.Errorf("no sockets for the stream's local address")
	}
}

// TestConcurrentSignalling runs many calls in parallel (go test -race).
func TestConcurrentSignalling(t *testing.T) {
	r, alloc := newReg(t, Config{}, testPortBase+1000, testPortBase+1999)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				if _, err := r.Offer(&Params{CallID: id, FromTag: "a", SDP: offerSDP}); err != nil {
					t.Error(err)
					return
				}
				if _, err := r.Answer(&Params{CallID: id, FromTag: "a", ToTag: "b", SDP: answerSDP}); err != nil {
					t.Error(err)
					return
				}
				r.Query(id, "", "")
				r.List(0)
				if _, err := r.Delete(DeleteParams{CallID: id}); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if r.Len() != 0 || alloc.InUse() != 0 {
		t.Errorf("%d calls, %d ports left", r.Len(), alloc.InUse())
	}
}

// TestForkBranches follows a forked INVITE as rtpengine 10.5 does: a second
// answer with a new to-tag gets a party of its own, a branch delete (to-tag)
// releases only that party, and the caller's delete ends the call.
func TestForkBranches(t *testing.T) {
	r, alloc := newReg(t, Config{}, testPortBase+800, testPortBase+899)
	offer(t, r, "f", "a", "", offerSDP)
	first := mediaPorts(t, answer(t, r, "f", "a", "b", answerSDP))
	second := mediaPorts(t, answer(t, r, "f", "a", "c", answerSDP))
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Errorf("caller's ports changed between fork answers: %v %v", first, second)
	}
	st, _ := r.Query("f", "", "")
	if len(st.Tags) != 3 {
		t.Fatalf("tags %+v", st.Tags)
	}
	if a := st.Tags[0]; fmt.Sprint(a.Subscriptions) != "[c b]" || fmt.Sprint(a.Subscribers) != "[c]" {
		t.Errorf("caller subscriptions %v subscribers %v", a.Subscriptions, a.Subscribers)
	}
	before := alloc.InUse()
	ds, err := r.Delete(DeleteParams{CallID: "f", FromTag: "a", ToTag: "b", UseToTag: true})
	if err != nil || len(ds.Tags) != 1 || ds.Tags[0].Tag != "b" {
		t.Fatalf("branch delete: %v %+v", err, ds)
	}
	if r.Len() != 1 || alloc.InUse() != before-4 {
		t.Errorf("branch delete: %d calls, ports %d -> %d", r.Len(), before, alloc.InUse())
	}
	if _, err := r.Delete(DeleteParams{CallID: "f", FromTag: "a"}); err != nil || r.Len() != 0 {
		t.Errorf("final delete: %v, %d calls", err, r.Len())
	}

	// Offers on two via-branches: the second branch gets its own sockets,
	// and each answer finds its branch by via-branch.
	o1 := mediaPorts(t, mustOffer(t, r, &Params{CallID: "v", FromTag: "a", ViaBranch: "b1", SDP: offerSDP}))
	o2 := mediaPorts(t, mustOffer(t, r, &Params{CallID: "v", FromTag: "a", ViaBranch: "b2", SDP: offerSDP}))
	if fmt.Sprint(o1) == fmt.Sprint(o2) {
		t.Errorf("second branch reused the first branch's ports %v", o1)
	}
	if _, err := r.Answer(&Params{CallID: "v", FromTag: "a", ToTag: "c", ViaBranch: "b2", SDP: answerSDP}); err != nil {
		t.Fatal(err)
	}
	st, _ = r.Query("v", "", "")
	for _, tg := range st.Tags {
		if tg.Tag == "c" && tg.ViaBranch != "b2" {
			t.Errorf("answer on b2 tagged the wrong party: %+v", tg)
		}
	}
}

func mustOffer(t *testing.T, r *Registry, p *Params) string {
	t.Helper()
	out, err := r.Offer(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOddTags: tags naming the same party, or parties of other dialogues,
// must neither hang nor leak.
func TestOddTags(t *testing.T) {
	r, alloc := newReg(t, Config{}, testPortBase+900, testPortBase+999)
	offer(t, r, "x", "a", "a", offerSDP)
	if _, err := r.Answer(&Params{CallID: "x", FromTag: "a", ToTag: "a", SDP: answerSDP}); err != nil {
		t.Logf("answer to self: %v", err)
	}
	offer(t, r, "x", "b", "a", answerSDP)
	if _, err := r.Answer(&Params{CallID: "x", FromTag: "b", ToTag: "zz", SDP: offerSDP + "m=audio 9 RTP/AVP 8\r\n"}); err != nil {
		t.Logf("answer with more media: %v", err)
	}
	r.Query("x", "a", "b")
	if _, err := r.Delete(DeleteParams{CallID: "x"}); err != nil {
		t.Fatal(err)
	}
	if alloc.InUse() != 0 {
		t.Errorf("%d ports leaked", alloc.InUse())
	}
}

// TestFailedForkLeavesNoParty: a fork offer that runs out of ports leaves
// the call as it was.
func TestFailedForkLeavesNoParty(t *testing.T) {
	r, alloc := newReg(t, Config{}, testPortBase+1200, testPortBase+1207)
	mustOffer(t, r, &Params{CallID: "f", FromTag: "a", ViaBranch: "b1", SDP: offerSDP})
	if _, err := r.Offer(&Params{CallID: "f", FromTag: "a", ViaBranch: "b2", SDP: offerSDP}); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("err %v", err)
	}
	st, _ := r.Query("f", "", "")
	if len(st.Tags) != 2 || alloc.InUse() != 8 {
		t.Errorf("after failed fork: %d parties, %d ports", len(st.Tags), alloc.InUse())
	}
}
