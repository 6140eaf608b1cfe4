package control

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"sipmedia/ngproto"
)

// BenchmarkNGCycle: one offer, answer and delete as datagrams through the
// NG server framing, the handler and the registry (real ports), as the
// daemon runs them; allocations per cycle are the figure to watch.
func BenchmarkNGCycle(b *testing.B) {
	reg, _ := newTestRegistry(b, 44800, 44999)
	srv := &ngproto.Server{Handler: NewHandler(reg, nil, nil)}
	const sdpA = "v=0\r\no=- 1545997027 1 IN IP4 127.0.0.2\r\ns=bench\r\nt=0 0\r\n" +
		"m=audio 2000 RTP/AVP 0 8 101\r\nc=IN IP4 127.0.0.2\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
	const sdpB = "v=0\r\no=- 2873397496 1 IN IP4 127.0.0.3\r\ns=bench\r\nt=0 0\r\n" +
		"m=audio 3000 RTP/AVP 0 101\r\nc=IN IP4 127.0.0.3\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
	ctx := context.Background()
	var buf []byte
	send := func(cookie string, d ngproto.Dict) {
		var err error
		buf, err = ngproto.AppendMessage(buf[:0], ngproto.Message{Cookie: cookie, Body: d})
		if err != nil {
			b.Fatal(err)
		}
		reply := srv.Process(ctx, buf, testFrom)
		// Only the daemon's side is measured: no decoding of the reply.
		if !bytes.Contains(reply, []byte("6:result2:ok")) {
			b.Fatalf("%s: %q", d.Str("command"), reply)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := "bench-" + strconv.Itoa(i)
		send(id+"o", ngproto.Dict{"command": "offer", "call-id": id, "from-tag": "a", "sdp": sdpA})
		send(id+"a", ngproto.Dict{"command": "answer", "call-id": id, "from-tag": "a", "to-tag": "b", "sdp": sdpB})
		send(id+"d", ngproto.Dict{"command": "delete", "call-id": id, "from-tag": "a"})
	}
}
