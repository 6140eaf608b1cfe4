package router

import (
	"bytes"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"sipmedia/ngproto/genstore"
	"sipmedia/sipproxy/internal/transport"
)

// What remains of finished UDP transactions.
//
// sipgo keeps a UDP transaction 64*T1 (32 s) after its final response,
// with the parsed request and responses, its timers and hooks: at
// hundreds of calls per second that is tens of MB that every GC marks and
// that the heap keeps growing into. The router's own UDP transactions
// (udpserver.go, udptx.go) end with their final reply instead and leave
// here only what still answers on the wire, as bytes outside the Go heap
// (kept), for as long or up to twice as long:
//
//   - server INVITE answered 2xx (Accepted, RFC 6026): a retransmitted
//     INVITE is absorbed, a CANCEL gets 200;
//   - server non-INVITE (Completed): a retransmitted request gets the
//     final response again;
//   - client INVITE answered 2xx (Accepted): a retransmitted 2xx gets the
//     2xx as relayed upstream (media step applied) again; only for T4 once
//     its ACK has passed (ackpath.go);
//   - client INVITE answered with a failure (Completed): a retransmitted
//     failure gets the ACK again;
//   - client non-INVITE (Completed): retransmitted final replies are
//     absorbed.
//
// Matching is by top Via branch (RFC 3261 branches only), method and, on
// the server side, sent-by.

// finishedServer is what remains of a server transaction.
type finishedServer struct {
	method sip.RequestMethod
	sentBy string // top Via host:port, with the branch (the key)
	res    []byte // final response to resend (non-INVITE); nil: absorb
}

// finishedClient is what remains of a client transaction over UDP: an
// INVITE's 2xx as relayed upstream (resent on a 2xx retransmission) or
// the ACK of its failure (resent on a retransmission of the failure); a
// non-INVITE's absorbs retransmissions of its final reply. addr and
// proto are where res or ack goes, laddr the listener it leaves from.
type finishedClient struct {
	method             sip.RequestMethod
	res, ack           []byte
	addr, proto, laddr string
}

// txKeep is how long finished transactions are remembered: Timers J, L
// and M are all 64*T1 over UDP.
const txKeep = branchKeep

// kept holds what remains of finished transactions by top Via branch,
// as records outside the Go heap (package genstore: about 250000 of them
// at 2000 calls/s, which as objects cost 12% of the proxy's CPU in garbage
// collection). A record is kept keep..2*keep.
type kept struct {
	s *genstore.Store
}

func newKept(keep time.Duration) kept { return kept{genstore.New(keep, time.Now())} }

func (k kept) putRecord(key string, rec []byte) {
	if k.s.Put(time.Now(), key, rec) {
		k.s.Refill()
	}
}

func (k kept) record(key string) ([]byte, bool) { return k.s.Get(time.Now(), key) }
func (k kept) remove(key string)                { k.s.Delete(key) }

// records are built in pooled buffers (newRecord, then putBuilt): a
// response kept whole is most of one.
var recordBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func newRecord() *bytes.Buffer {
	b := recordBufs.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func (k kept) putBuilt(key string, b *bytes.Buffer) {
	k.putRecord(key, b.Bytes())
	recordBufs.Put(b)
}

// serverRecord builds what remains of a server transaction, to keep with
// putBuilt: res is a non-INVITE's final reply (else nil), written
// straight into the record and returned with it as its bytes on the
// wire.
func serverRecord(method sip.RequestMethod, sentBy string, res *sip.Response) (rec *bytes.Buffer, wire []byte) {
	b := newRecord()
	writeField(b, string(method))
	writeField(b, sentBy)
	if res == nil {
		return b, nil
	}
	return b, writeWire(b, res)
}

func (k kept) server(key string) (f finishedServer, ok bool) {
	rec, ok := k.record(key)
	if !ok {
		return f, false
	}
	var method, sb []byte
	if method, rec, ok = readField(rec); !ok {
		return f, false
	}
	if sb, rec, ok = readField(rec); !ok {
		return f, false
	}
	f = finishedServer{method: sip.RequestMethod(method), sentBy: string(sb)}
	if len(rec) > 0 {
		f.res = rec
	}
	return f, true
}

// putClient keeps what remains of a client transaction: msg is the 2xx
// relayed upstream or the ACK of a failure (an *sip.Request), or nil.
func (k kept) putClient(key string, method sip.RequestMethod, msg sip.Message, addr, proto, laddr string) {
	rec, _ := clientRecord(method, msg, addr, proto, laddr)
	k.putBuilt(key, rec)
}

// clientRecord builds what putClient keeps, for putBuilt, and returns
// with it the part that is msg on the wire.
func clientRecord(method sip.RequestMethod, msg sip.Message, addr, proto, laddr string) (rec *bytes.Buffer, wire []byte) {
	b := newRecord()
	writeField(b, string(method))
	writeField(b, addr)
	writeField(b, proto)
	writeField(b, laddr)
	switch msg.(type) {
	case *sip.Response:
		b.WriteByte('r')
	case *sip.Request:
		b.WriteByte('a')
	default:
		return b, nil
	}
	return b, writeWire(b, msg)
}

// writeWire serialises m at the end of a record and returns its bytes.
func writeWire(b *bytes.Buffer, m sip.Message) []byte {
	at := b.Len()
	m.StringWrite(b)
	return b.Bytes()[at:]
}

func (k kept) client(key string) (finishedClient, bool) {
	rec, ok := k.record(key)
	if !ok {
		return finishedClient{}, false
	}
	return parseClient(rec)
}

func parseClient(rec []byte) (f finishedClient, ok bool) {
	var fs [4][]byte
	for i := range fs {
		if fs[i], rec, ok = readField(rec); !ok {
			return f, false
		}
	}
	f = finishedClient{method: sip.RequestMethod(fs[0]), addr: string(fs[1]), proto: string(fs[2]), laddr: string(fs[3])}
	if len(rec) > 1 {
		switch rec[0] {
		case 'r':
			f.res = rec[1:]
		case 'a':
			f.ack = rec[1:]
		}
	}
	return f, true
}

// writeField writes s with its length before it (uvarint).
func writeField(b *bytes.Buffer, s string) {
	var n [binary.MaxVarintLen64]byte
	b.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
	b.WriteString(s)
}

// readField returns the field at the head of rec and what follows it.
func readField(rec []byte) (field, rest []byte, ok bool) {
	l, n := binary.Uvarint(rec)
	if n <= 0 || l > uint64(len(rec)-n) {
		return nil, nil, false
	}
	return rec[n : n+int(l)], rec[n+int(l):], true
}

func rfc3261Branch(m interface{ Via() *sip.ViaHeader }) bool {
	b := topViaBranch(m)
	return len(b) > len(sip.RFC3261BranchMagicCookie) && strings.HasPrefix(b, sip.RFC3261BranchMagicCookie)
}

func sentBy(via *sip.ViaHeader) string {
	return via.Host + ":" + strconv.Itoa(via.Port)
}

// finishClient ends the client transaction of a branch once its relay
// has ended: a UDP branch keeps what remains of it (udpClientTx.finish);
// sipgo's transactions (other transports) end by themselves.
func (r *Router) finishClient(st *branchState) {
	if st.utx != nil {
		st.utx.finish()
	}
}

// absorbRequest handles a request of a finished server transaction (a
// retransmission, or a CANCEL of an INVITE answered 2xx); false: not one.
func (r *Router) absorbRequest(req *sip.Request, send transport.Replier) bool {
	if req.IsAck() {
		return false
	}
	f, ok := r.finishedSrv.server(topViaBranch(req))
	if !ok || f.sentBy != sentBy(req.Via()) {
		return false
	}
	switch {
	case req.IsCancel() && f.method == sip.INVITE:
		// As an Accepted INVITE transaction: 200 to the CANCEL, nothing
		// else.
		r.Metrics.Retransmissions.Add(1)
		ok := sip.NewResponseFromRequest(req, 200, "OK", nil)
		ok.SetDestination(replyAddr(req))
		_ = send.Reply(ok)
	case req.Method == f.method:
		r.Metrics.Retransmissions.Add(1)
		if f.res != nil {
			_ = send.ReplyWire(f.res, replyAddr(req))
		}
	default:
		return false
	}
	return true
}

// absorbResponse handles a response of a finished client transaction;
// false: not one.
func (r *Router) absorbResponse(res *sip.Response) bool {
	branch, method, ok := responseBranch(res)
	if !ok {
		return false
	}
	f, ok := r.finishedCli.client(branch)
	if !ok {
		f, ok = r.ackedCli.client(branch)
	}
	if !ok || f.method != method {
		return false
	}
	r.Metrics.Retransmissions.Add(1)
	switch code := res.StatusCode; {
	case code >= 200 && code < 300 && f.res != nil:
		r.resend(f.res, f.addr, f.proto)
	case code >= 300 && f.ack != nil:
		r.resendAck(f)
	}
	return true
}

// resend sends a response kept as bytes.
func (r *Router) resend(b []byte, addr, proto string) {
	msg, err := sip.ParseMessage(b)
	if err != nil {
		r.log.Debug("kept response unparsable", "error", err)
		return
	}
	if r.resendHook != nil {
		r.resendHook(msg, addr)
		return
	}
	if err := r.tpl.WriteMsgTo(msg, addr, proto); err != nil {
		r.log.Debug("retransmission not sent", "error", err)
	}
}

// resendAck sends again the ACK of a failure kept as bytes.
func (r *Router) resendAck(f finishedClient) {
	msg, err := sip.ParseMessage(f.ack)
	ack, ok := msg.(*sip.Request)
	if err != nil || !ok {
		r.log.Debug("kept ACK unparsable", "error", err)
		return
	}
	ack.SetTransport(f.proto)
	ack.SetDestination(f.addr)
	if host, port, err := net.SplitHostPort(f.laddr); err == nil {
		p, _ := strconv.Atoi(port)
		ack.Laddr = sip.Addr{IP: net.ParseIP(host), Port: p}
	}
	if err := r.writeRequest(ack); err != nil {
		r.log.Debug("ACK of a failure not resent", "error", err)
	}
}
