package relay

import "errors"

var (
	// ErrClosed is returned by operations on a closed Engine or Stream.
	ErrClosed = errors.New("relay: closed")
	// ErrBadLearning is returned for an unknown endpoint-learning name.
	ErrBadLearning = errors.New("relay: unknown endpoint learning mode")
	// ErrNotUDP is returned when a socket is not a bound IPv4/IPv6 UDP socket.
	ErrNotUDP = errors.New("relay: not a bound UDP socket")
)
