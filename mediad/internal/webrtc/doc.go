// Package webrtc terminates the secure side of a media stream on one UDP
// port per component: it demultiplexes STUN, DTLS and (S)RTP by their first
// byte (RFC 7983), lets package ice answer and run connectivity checks,
// package dtlssrtp run the handshake, and converts SRTP/SRTCP to and from
// plain RTP/RTCP with keys from DTLS or SDES (package sdes).
//
// The relay owns the socket and its read loop; it calls an Endpoint through
// the Transform interface for every packet. This package never reads from a
// socket and never decides where plain media goes. Security negotiates the
// SDP side (a=crypto, a=setup, a=fingerprint, a=tls-id) the way rtpengine
// 10.5 prints it and turns both parties' SDP into an Endpoint Plan.
//
// Flags a SIP proxy should send (the seed's, plus rtcp-mux): Chromium and
// Firefox refuse an answer without a=rtcp-mux, and rtpengine 10.5 with only
// the seed's flags answers the browser without it. So, browser to phone:
// offer with "RTP/AVP replace-session-connection replace-origin ICE=remove
// rtcp-mux-demux", answer with "UDP/TLS/RTP/SAVPF ICE=force
// rtcp-mux-require"; phone to browser: offer with "UDP/TLS/RTP/SAVPF
// ICE=force rtcp-mux-require" (or the WebRTC flag), answer with "RTP/AVP
// replace-session-connection replace-origin ICE=remove rtcp-mux-demux".
// e2e/webrtc_browser_test.go drives a real Chromium with exactly these.
package webrtc
