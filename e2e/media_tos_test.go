package e2e

import (
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"sipmedia/ngproto"
	"sipmedia/ngproto/testport"
)

// recvTOS turns on IP_RECVTOS on c, so that readTOS sees each
// datagram's TOS byte.
func recvTOS(t *testing.T, c *net.UDPConn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVTOS, 1) }); err != nil || serr != nil {
		t.Fatalf("IP_RECVTOS: %v %v", err, serr)
	}
}

// readTOS returns the TOS bytes of the datagrams that arrive on c within
// a moment (-1 for one without the control message).
func readTOS(c *net.UDPConn) []int {
	var out []int
	buf, oob := make([]byte, 2048), make([]byte, 128)
	for {
		_ = c.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		_, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
		if err != nil {
			return out
		}
		tos := -1
		msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_TOS && len(m.Data) > 0 {
				tos = int(m.Data[0])
			}
		}
		out = append(out, tos)
	}
}

// TestMediaTOS compares rtpengine's --tos, the offer's TOS key and
// --control-tos with mediad's: the TOS byte of relayed RTP and RTCP, in
// both directions, and of NG replies.
func TestMediaTOS(t *testing.T) {
	onBothDaemons(t, []string{"--tos=184", "--control-tos=104"}, func(t *testing.T, name, ng string) {
		a, b := newBlockParty(t, "ta", 0x1111), newBlockParty(t, "tb", 0x2222)
		for _, p := range []*blockParty{a, b} {
			recvTOS(t, p.rtp)
			recvTOS(t, p.rtcp)
		}
		callID := "tos-" + name
		check := func(step string, want int) {
			t.Helper()
			a.send(t)
			b.send(t)
			socks := []struct {
				who  string
				conn *net.UDPConn
				got  []int
			}{{who: "a rtp", conn: a.rtp}, {who: "a rtcp", conn: a.rtcp}, {who: "b rtp", conn: b.rtp}, {who: "b rtcp", conn: b.rtcp}}
			var wg sync.WaitGroup
			for i := range socks {
				wg.Add(1)
				go func() { defer wg.Done(); socks[i].got = readTOS(socks[i].conn) }()
			}
			wg.Wait()
			for _, c := range socks {
				if len(c.got) == 0 {
					t.Errorf("%s: %s received nothing", step, c.who)
				}
				for _, tos := range c.got {
					if tos != want {
						t.Errorf("%s: %s received TOS %v, want %d", step, c.who, c.got, want)
						break
					}
				}
			}
		}
		negotiate(t, ng, callID, a, b, nil)
		check("--tos", 184)
		negotiate(t, ng, callID, a, b, kv{"TOS": 32})
		check("TOS key", 32)
		negotiate(t, ng, callID, a, b, kv{"TOS": -1})
		check("negative TOS key", 32)
		negotiate(t, ng, callID, a, b, nil)
		check("no TOS key", 184)
		negotiate(t, ng, callID, a, b, kv{"TOS": 300})
		check("TOS key above 255", 184)
		ngDo(t, ng, del(callID, nil))

		// --control-tos marks the NG replies.
		c := testport.UDP(t)
		recvTOS(t, c)
		ngAddr, err := net.ResolveUDPAddr("udp", ng)
		if err != nil {
			t.Fatal(err)
		}
		body, err := ngproto.EncodeBody(ngproto.Dict{"command": "ping"}, ngproto.Bencode)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteToUDP(append([]byte("tos1 "), body...), ngAddr); err != nil {
			t.Fatal(err)
		}
		if got := readTOS(c); len(got) != 1 || got[0] != 104 {
			t.Errorf("NG reply TOS %v, want [104]", got)
		}
	})
}
