package loadgen

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func TestPacerDeliversEverything(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	a, err := Listen(lo)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Listen(lo)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var flows []Flow
	for range 40 {
		flows = append(flows, Flow{Socket: a, Dst: b.Addr()}, Flow{Socket: b, Dst: a.Addr()})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rctx, stopRx := context.WithCancel(context.Background())
	wg := ReceiveAll(rctx, []*Socket{a, b})
	p := &Pacer{}
	if err := p.Run(ctx, flows); err != nil {
		t.Fatal(err)
	}
	sent, errs := p.Sent()
	if sent == 0 || errs != 0 {
		t.Fatalf("sent %d, errors %d", sent, errs)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ra, ba := a.Received()
		rb, bb := b.Received()
		if ra+rb == sent {
			if ba+bb != sent*172 {
				t.Errorf("received %d bytes, want %d", ba+bb, sent*172)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d", ra+rb, sent)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopRx()
	wg.Wait()
	if err := p.Run(context.Background(), nil); err != ErrNoFlows {
		t.Errorf("Run without flows: %v", err)
	}
}
