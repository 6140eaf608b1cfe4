// Package webrtc terminates the secure side of a media stream on one UDP
// port per component: it demultiplexes STUN, DTLS and (S)RTP by their first
// byte (RFC 7983), lets package ice answer and run connectivity checks,
// package dtlssrtp run the handshake, and converts SRTP/SRTCP to and from
// plain RTP/RTCP with keys from DTLS or SDES (package sdes).
//
// The relay owns the socket and its read loop; it calls an Endpoint through
// the Transform interface for every packet. This package never reads from a
// socket and never decides where plain media goes.
package webrtc
