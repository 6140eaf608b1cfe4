// Package relay owns mediad's userspace packet path for plain RTP/RTCP: one
// Stream per local UDP socket (an RTP or RTCP component), endpoint learning
// (latching) as rtpengine does it, forwarding to the sink stream, per-stream
// and global counters, and the epoll-driven read loops that move packets.
//
// It knows nothing about calls, SDP or NG. Signalling (package call) creates
// streams on sockets it allocated and describes what each stream should do in
// an immutable Forwarding snapshot (SetForwarding); the packet path reads that
// snapshot through an atomic.Pointer and never takes a lock shared with
// signalling or with another call.
//
// Packet path, per datagram received on a stream's socket:
//  1. loop protection: drop packets whose source is one of our own sockets;
//  2. a Transform (ICE, DTLS, SRTP) takes its datagrams and decrypts media;
//  3. a recorded call's packet goes to its Recorder;
//  4. RTP/RTCP classification (RTCP component, or RTCP on an RTP socket by
//     payload type 192-223, RFC 5761);
//  5. endpoint learning and strict-source / media-handover checks;
//  6. ingress counters; DTMF events to their log, RTCP to its reporter
//     (Homer);
//  7. hold: RTP from a side that may not send is counted but not forwarded;
//     blocked RTP (Forwarding.Block) likewise, and silenced RTP has its
//     payload overwritten;
//  8. send from the sink stream's socket to the sink's current peer.
//
// I/O (Linux only): each read loop owns an epoll instance over duplicated
// socket descriptors; the epoll descriptor is parked in the Go runtime's
// poller, so an idle loop costs a parked goroutine. A round takes the ready
// sockets from one non-blocking epoll_wait, receives one datagram from each
// with a single io_uring_enter, handles them, and sends all results with a
// second io_uring_enter (recvmmsg/sendto per socket when io_uring is not
// available). After a round that found few sockets ready, the loop waits
// Config.Coalesce (1 ms) so the next round's system calls are shared by more
// packets. Measured on the 2-core paravirtualised test machines, where a
// system call or a context switch costs microseconds, this takes the relay
// from about rtpengine's CPU per packet to about a third of it
// (e2e/cmd/benchrelay; BenchmarkForward* for the in-process comparison).
package relay
