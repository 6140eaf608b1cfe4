// Package cli owns mediad's CLI control port: the command tree of
// rtpengine's CLI (list/get, terminate, call ...) with rtpengine 10.5's
// output formats, a TCP server compatible with rtpengine-ctl (one command
// line per connection, plain-text answer, then close) and a client for
// `mediad ctl`. It reads and changes call state only through the Calls
// interface, which the call registry implements.
package cli

import (
	"net/netip"
	"time"

	"sipmedia/mediad/internal/call"
)

// Calls is the CLI's view of the call registry. Implementations must be
// safe for concurrent use; every method returns copies the CLI may keep.
type Calls interface {
	// Counts returns the current numbers of calls and media.
	Counts() Counts
	// Sessions returns a summary of every call (for "list sessions all"),
	// in the order they should be printed.
	Sessions() []Session
	// Session returns one call with its Tags filled, or false.
	Session(callID string) (Session, bool)
	// Terminate deletes a call at once (no delete delay), as rtpengine's
	// operator termination does; false if there is no such call.
	Terminate(callID string) bool
	// TerminateAll deletes every call and returns how many there were.
	TerminateAll() int
	// Totals returns the statistics printed by "list totals".
	Totals() Totals
	// Limits returns the limits and timeouts "list" shows and "set"
	// changes; SetLimits changes them.
	Limits() call.Limits
	SetLimits(change func(*call.Limits))
}

// Counts are the gauges printed by "list numsessions".
type Counts struct {
	Own, Foreign    int // calls owned by this instance / foreign (redis) calls
	TranscodedMedia int
	IPv4Only        int // calls whose media are all IPv4
	IPv6Only        int // calls whose media are all IPv6
	Mixed           int // calls with IPv4 and IPv6 media
}

// Session is one call. Tags is only filled by Calls.Session.
type Session struct {
	CallID     string
	Deleted    bool      // deletion mark: deleted, waiting for the delete delay
	Created    time.Time // creation time
	LastSignal time.Time // last signalling event
	Proxy      string    // address of the proxy that created it ("127.0.0.1:5060")
	TOS        int
	Foreign    bool
	Tags       []Tag // monologues, in creation order
}

// Tag is one monologue (one side of the call, identified by its tag).
type Tag struct {
	Tag        string
	Type       string // "FROM_TAG", "TO_TAG" or "UNKNOWN", as rtpengine prints
	Label      string
	ViaBranch  string
	Started    time.Time
	Terminated time.Time // zero while the call runs; duration is counted to it
	// SubscribedTo lists tags this monologue receives media from;
	// Subscribers lists tags that receive its media.
	SubscribedTo, Subscribers []string
	Medias                    []Media
}

// Media is one m= section of a monologue.
type Media struct {
	Index    int    // 1-based m= index
	Type     string // "audio", "video", ...
	Protocol string // "RTP/AVP", ... ("" prints as "(unknown)")
	Codec    string // e.g. "PCMU/8000"; "" prints as "unknown codec"
	Streams  []Stream
}

// Stream is one component (RTP or RTCP) of a media.
type Stream struct {
	Local      netip.AddrPort // our socket
	Remote     netip.AddrPort // peer endpoint; zero = not known yet
	RTCP       bool           // the RTCP component (printed with " (RTCP)")
	SSRC       uint32         // last seen incoming SSRC, 0 if none
	Packets    uint64
	Bytes      uint64
	Errors     uint64
	LastPacket time.Time // zero = none; printed as Unix seconds
}

// Totals are the statistics of "list totals" and "list counters". Fields
// mediad does not track stay zero and print as 0, as in a fresh rtpengine.
type Totals struct {
	// Current per-second rates.
	Rate, RateKernel Counters
	// Current media streams by forwarding path.
	UserspaceStreams, KernelStreams, MixedStreams int

	// Since start (closed calls).
	Managed, Rejected                                  uint64
	Ended                                              uint64 // calls that ended: the count of the durations below
	Timeout, SilentTimeout, FinalTimeout, OfferTimeout uint64 // calls closed by each timer
	RegularTerminated, ForcedTerminated                uint64
	Relayed, RelayedKernel                             Counters
	ZeroWayStreams, OneWayStreams                      uint64
	TotalCallDuration                                  time.Duration
	TotalCallDurationSquared                           float64 // sum of squared durations in seconds^2
	// MOSSum and MOSSquares add up the MOS values (times 10) of
	// MOSSamples receiver reports, and their squares.
	MOSSum, MOSSquares, MOSSamples uint64

	// Per proxy NG request counts, by rtpengine's short command names
	// ("Ping", "Offer", "Answer", "Delete", "Query", "List", ...).
	Proxies []ProxyStats

	// Interval is the last report to Graphite.
	Interval Interval
}

// Interval is what the last report to Graphite held ("Graphite interval
// statistics"); all zero while mediad reports to no Graphite server.
type Interval struct {
	Reported bool
	// CallsDuration is the time calls were up in the interval, in seconds.
	CallsDuration            float64
	MinSessions, MaxSessions uint64
	// Delay and Rate are by NG command ("offer", "start recording"):
	// min, max and average processing time in seconds, and requests per
	// second.
	Delay map[string][3]float64
	Rate  map[string][3]uint64
}

// Counters are packet, byte and error counts (or rates).
type Counters struct {
	Packets, Bytes, Errors uint64
}

// ProxyStats counts NG requests from one proxy address.
type ProxyStats struct {
	Proxy    string // IP address without port, as rtpengine keys it
	Requests map[string]uint64
	Errors   uint64
}

// PortStats is the port allocator as "list interfaces" sees it
// (*ports.Allocator implements it).
type PortStats interface {
	Range() (min, max int)
	InUse() int
	Total() int
	LastUsed() int
	Warm() int // free pairs whose sockets stay bound (ports.Allocator.Recycle)
}
