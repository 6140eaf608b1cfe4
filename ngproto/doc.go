// Package ngproto implements rtpengine's NG control protocol, shared by
// mediad (the daemon side) and sipproxy (the proxy side):
//
//   - codec.go, dict.go, errors.go: "<cookie> <body>" framing, bencode
//     decoding (through github.com/jackpal/bencode-go, after a cheap
//     structural pre-scan that bounds nesting and string lengths) and JSON
//     bodies, the lenient Dict accessors with rtpengine's key aliases,
//     reply helpers and rtpengine's exact error reasons.
//   - bencode_append.go: the reply encoder, byte-for-byte what bencode-go
//     writes, without its fmt/reflection cost.
//   - request.go, keyview.go: ParseRequest, the typed view of a command
//     with flag canonicalisation, prefix folding, WebRTC expansion and
//     rtpp-flags; key aliases are folded once per request.
//   - flagstring.go: ParseFlagString, the OpenSIPS/Kamailio module flag
//     strings (and the daemon's own rtpp-flags rules) as NG keys.
//   - client_ws.go: the same over a WebSocket (ng.rtpengine.com), for
//     ws:// and wss:// daemons, reconnecting on demand.
//   - client.go, pool.go: a UDP client with cookie matching and
//     retransmission (callers take turns reading the socket; no reader
//     goroutine), and a pool of daemons with stickiness (a new call's
//     daemon chosen by weighted rendezvous hashing of its call-id),
//     health checks and failover.
//   - server.go, serve_udp.go: the daemon side framing with rtpengine's
//     cookie cache; one loop handles datagrams inline and more start only
//     while datagrams queue up.
//   - serve_tcp.go: the same cache behind NG over TCP (a stream of
//     messages, each ending with its dictionary).
package ngproto
