// Package call owns mediad's call registry and signalling semantics: the
// model call > monologue (one per SIP tag) > media (one per m= line) >
// stream (RTP and RTCP component), rtpengine's offer/answer/delete/query
// behaviour, the outgoing SDP built from that model as rtpengine 10.5
// prints it, and the timers (delete-delay, offer timeout, media timeout).
//
// Locking: the registry's mutex covers only the map of calls and is held
// briefly; all signalling state of a call lives under that call's mutex.
// The relay never takes either: what a packet needs is an immutable
// Forwarding snapshot behind an atomic.Pointer on each Stream, and the
// counters are atomics.
//
// It does not speak NG (package control maps requests and replies) and
// does not move packets (package relay does).
package call
