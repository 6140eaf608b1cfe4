package router

import "sync/atomic"

// Metrics are the router's counters (shown by the management API).
type Metrics struct {
	Requests     atomic.Int64 // requests routed
	BadRequests  atomic.Int64 // rejected with 400 before routing
	Panics       atomic.Int64
	Replies      [7]atomic.Int64 // replies sent upstream by class (index 1..6)
	Relayed      atomic.Int64    // requests relayed statefully
	Stateless    atomic.Int64    // requests relayed statelessly (ACK for 2xx)
	Dropped      atomic.Int64    // requests dropped by the script (stray ACK/CANCEL)
	ActiveTx     atomic.Int64    // relays in progress
	TimerC       atomic.Int64    // branches ended by fr_inv_timeout
	FrTimeouts   atomic.Int64    // branches ended by fr_timeout
	SendFailures atomic.Int64
	InboxFull    atomic.Int64 // responses dropped: their branch had inboxSize waiting
	// Retransmissions handled for transactions ended early (finished.go).
	Retransmissions atomic.Int64
	// AuthChallenges: 401/407 sent; AuthFailures: wrong credentials or
	// another user's (step_auth.go).
	AuthChallenges, AuthFailures atomic.Int64
}

func (m *Metrics) reply(code int) {
	if c := code / 100; c >= 1 && c <= 6 {
		m.Replies[c].Add(1)
	}
}
