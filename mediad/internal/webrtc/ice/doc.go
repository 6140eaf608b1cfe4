// Package ice implements the ICE side of mediad's WebRTC termination: local
// credentials, SDP candidate lines, and a small full ICE agent (RFC 8445)
// for one media component that answers connectivity checks, runs its own
// checks and nomination as controlling or controlled agent, keeps consent
// fresh (RFC 7675) and restarts on new credentials.
//
// The agent owns no socket: the relay's read loop hands it STUN packets and
// it sends through a PacketWriter. It never touches RTP, DTLS or SDP beyond
// the a=candidate value.
package ice
