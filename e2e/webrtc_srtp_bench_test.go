package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/ngproto"
)

// srtpBenchDaemons are compared by BenchmarkSRTPBridgeCPU.
var srtpBenchDaemons = []string{"rtpengine", "mediad"}

// BenchmarkSRTPBridgeCPU measures the daemon's CPU time per packet when
// it bridges SDES-SRTP (AES_CM_128_HMAC_SHA1_80) from 500 calls to plain
// RTP, 50 packets per second per call (G.711, 20 ms), for 5 s per
// iteration. Run with -benchtime=1x. The daemon's CPU comes from
// /proc/<pid>/stat; rtpengine runs userspace-only (-t -1), as mediad.
func BenchmarkSRTPBridgeCPU(b *testing.B) {
	const calls, pps, dur = 500, 50, 5 * time.Second
	for _, name := range srtpBenchDaemons {
		b.Run(name, func(b *testing.B) {
			p, opts := daemon.ByNameTB(b, name, daemon.Options{PortMin: 20000, PortMax: 29999})
			var perPkt, loss float64
			for b.Loop() {
				pp, l, err := srtpLoad(b, opts.NG, p.Pid(), calls, pps, dur)
				if err != nil {
					b.Fatal(err)
				}
				perPkt, loss = pp, l
			}
			b.ReportMetric(perPkt, "ns-cpu/pkt")
			b.ReportMetric(loss*100, "%loss")
		})
	}
}

func srtpLoad(b *testing.B, ngAddr string, pid, calls, pps int, dur time.Duration) (nsPerPkt, loss float64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), dur+2*time.Minute)
	defer cancel()
	ng, err := ngproto.Dial(ngAddr, ngproto.ClientConfig{})
	if err != nil {
		return 0, 0, err
	}
	defer ng.Close()
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, 0, err
	}
	defer a.Close()
	bs, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, 0, err
	}
	defer bs.Close()
	_ = bs.SetReadBuffer(8 << 20)
	aAddr, bAddr := a.LocalAddr().(*net.UDPAddr).AddrPort(), bs.LocalAddr().(*net.UDPAddr).AddrPort()

	type flow struct {
		ctx *srtp.Context
		dst netip.AddrPort
	}
	flows := make([]flow, calls)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := range flows {
		key := make([]byte, 30)
		_, _ = rand.Read(key)
		flows[i].ctx, err = srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
		if err != nil {
			return 0, 0, err
		}
		id := fmt.Sprintf("srtp-bench-%s-%d", run, i)
		offerSDP := fmt.Sprintf("v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
			"m=audio %d RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s\r\n",
			aAddr.Port(), base64.StdEncoding.EncodeToString(key))
		r, err := ng.Do(ctx, ngproto.Dict{"command": "offer", "call-id": id, "from-tag": "a", "sdp": offerSDP,
			"transport-protocol": "RTP/AVP", "ICE": "remove"})
		if err != nil {
			return 0, 0, err
		}
		if _, err := replySDP(r); err != nil {
			return 0, 0, err
		}
		answerSDP := fmt.Sprintf("v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
			"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", bAddr.Port())
		r, err = ng.Do(ctx, ngproto.Dict{"command": "answer", "call-id": id, "from-tag": "a", "to-tag": "b", "sdp": answerSDP,
			"transport-protocol": "RTP/SAVP", "ICE": "remove"})
		if err != nil {
			return 0, 0, err
		}
		toA, err := replySDP(r)
		if err != nil {
			return 0, 0, err
		}
		if flows[i].dst, err = mediaAddr(toA); err != nil {
			return 0, 0, err
		}
		defer func() { _, _ = ng.Do(context.Background(), ngproto.Dict{"command": "delete", "call-id": id}) }()
	}

	var received atomic.Uint64
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := bs.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if n == 12+160 { // decrypted: header and G.711 payload, no tag
				received.Add(1)
			}
		}
	}()
	send := func(seq uint16) {
		payload := make([]byte, 160)
		out := make([]byte, 0, 256)
		for i := range flows {
			pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: uint32(i + 1)}, Payload: payload}).Marshal()
			enc, err := flows[i].ctx.EncryptRTP(out[:0], pkt, nil)
			if err == nil {
				_, _ = a.WriteToUDPAddrPort(enc, flows[i].dst)
			}
		}
	}
	// Warm up (latching), then measure.
	tick := time.NewTicker(time.Second / time.Duration(pps))
	defer tick.Stop()
	seq := uint16(0)
	for range pps {
		<-tick.C
		seq++
		send(seq)
	}
	time.Sleep(100 * time.Millisecond)
	cpu0, err := daemon.ProcCPU(pid)
	if err != nil {
		return 0, 0, err
	}
	rx0 := received.Load()
	sent := 0
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		<-tick.C
		seq++
		send(seq)
		sent += len(flows)
	}
	time.Sleep(200 * time.Millisecond)
	cpu1, err := daemon.ProcCPU(pid)
	if err != nil {
		return 0, 0, err
	}
	got := received.Load() - rx0
	if got == 0 {
		return 0, 1, fmt.Errorf("no packets forwarded")
	}
	return float64(cpu1-cpu0) / float64(got), 1 - float64(got)/float64(sent), nil
}
