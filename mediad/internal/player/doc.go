// Package player plays audio files into calls, as rtpengine's play media
// does: it decodes a WAV or MP3 file to mono samples at 8 kHz, and a
// Player sends them, G.711-encoded, as an RTP stream of its own (its own
// SSRC, sequence numbers and timestamps) to one party, a packet every
// 20 ms, beside whatever the relay forwards to that party.
package player
