package relay

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"sipmedia/ngproto/testport"
)

// The forwarding benchmarks push b.N 172-byte packets from one client socket,
// round-robin over `flows` relay flows, to one receiving client socket, with
// at most `window` packets in flight. ns/op is wall time per packet;
// cpu-ns/pkt is the whole process's CPU (client included) per packet, so
// compare each against BenchmarkDirect, where the client sends straight to
// the receiver: the difference is the relay's own cost.

const (
	benchFlows  = 64
	benchWindow = 128
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pump sends b.N packets to dsts (round-robin) and waits until rx has read
// them all (or gives up after a stall, reporting loss).
func pump(b *testing.B, tx, rx *net.UDPConn, dsts []netip.AddrPort) {
	rx.SetReadBuffer(4 << 20)
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for got.Load() < int64(b.N) {
			rx.SetReadDeadline(time.Now().Add(time.Second))
			if _, _, err := rx.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	pkt := rtpPacket(1)
	b.ReportAllocs()
	cpu0 := cpuNow()
	b.ResetTimer()
	sent := 0
	for sent < b.N {
		if int64(sent)-got.Load() >= benchWindow {
			select {
			case <-done:
				b.Fatalf("stalled: sent %d, received %d", sent, got.Load())
			default:
			}
			time.Sleep(20 * time.Microsecond)
			continue
		}
		tx.WriteToUDPAddrPort(pkt, dsts[sent%len(dsts)])
		sent++
	}
	<-done
	b.StopTimer()
	if n := got.Load(); n < int64(b.N) {
		b.Logf("lost %d of %d", int64(b.N)-n, b.N)
	}
	b.ReportMetric(float64(cpuNow()-cpu0)/float64(b.N), "cpu-ns/pkt")
}

func BenchmarkDirect(b *testing.B) {
	tx, rx := testport.UDP(b), testport.UDP(b)
	pump(b, tx, rx, []netip.AddrPort{addr(rx)})
}

func BenchmarkForwardURing(b *testing.B) { benchForward(b, Config{}) }

func BenchmarkForwardRecvmmsg(b *testing.B) { benchForward(b, Config{NoURing: true}) }

func benchForward(b *testing.B, cfg Config) {
	e, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	tx, rx := testport.UDP(b), testport.UDP(b)
	var dsts []netip.AddrPort
	for range benchFlows {
		sa, sb := newStream(b, e, ComponentRTP), newStream(b, e, ComponentRTP)
		sa.SetForwarding(&Forwarding{Remote: addr(tx), Sink: sb, LoopProtect: true, DemuxRTCP: true})
		sb.SetForwarding(&Forwarding{Remote: addr(rx), Sink: sa, LoopProtect: true, DemuxRTCP: true})
		dsts = append(dsts, sa.Local())
	}
	pump(b, tx, rx, dsts)
}

// BenchmarkForwardGoroutine is the straightforward alternative: a goroutine
// per socket blocking in ReadFromUDPAddrPort and writing with
// WriteToUDPAddrPort (both allocation-free in the standard library).
func BenchmarkForwardGoroutine(b *testing.B) {
	tx, rx := testport.UDP(b), testport.UDP(b)
	var dsts []netip.AddrPort
	var wg sync.WaitGroup
	var conns []*net.UDPConn
	for range benchFlows {
		a, s := testport.UDP(b), testport.UDP(b)
		conns = append(conns, a, s)
		dst := addr(rx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				n, _, err := a.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				s.WriteToUDPAddrPort(buf[:n], dst)
			}
		}()
		dsts = append(dsts, addr(a))
	}
	pump(b, tx, rx, dsts)
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}
