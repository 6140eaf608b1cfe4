// Package dtlssrtp runs DTLS-SRTP (RFC 5763/5764) for mediad's WebRTC
// termination: the process certificate and its a=fingerprint, a=setup and
// a=tls-id values, and one DTLS handshake per media component over a
// virtual packet connection fed by the relay's demultiplexer. Its result is
// the SRTP profile and session keys; it never touches RTP itself.
package dtlssrtp
