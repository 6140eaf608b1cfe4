package dtlssrtp

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// Setup is an a=setup value (RFC 4145/5763).
type Setup string

// a=setup values.
const (
	SetupActpass  Setup = "actpass"
	SetupActive   Setup = "active"
	SetupPassive  Setup = "passive"
	SetupHoldconn Setup = "holdconn"
)

// ParseSetup accepts the four RFC values in any case.
func ParseSetup(s string) (Setup, error) {
	switch v := Setup(strings.ToLower(strings.TrimSpace(s))); v {
	case SetupActpass, SetupActive, SetupPassive, SetupHoldconn:
		return v, nil
	}
	return "", fmt.Errorf("bad a=setup value %q", s)
}

// Role is our side of the DTLS handshake.
type Role uint8

// DTLS roles.
const (
	RoleClient Role = iota + 1 // a=setup:active
	RoleServer                 // a=setup:passive
)

func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleServer:
		return "server"
	}
	return "none"
}

// AnswerRole decides our role when answering a peer's offer: an actpass
// offer leaves the choice to us (active unless preferPassive, as rtpengine's
// --dtls-passive / DTLS=passive); active and passive force the opposite.
func AnswerRole(peer Setup, preferPassive bool) Role {
	switch peer {
	case SetupActive:
		return RoleServer
	case SetupPassive:
		return RoleClient
	}
	if preferPassive {
		return RoleServer
	}
	return RoleClient
}

// OfferRole decides our role after we offered actpass and the peer answered.
func OfferRole(peerAnswer Setup) Role {
	if peerAnswer == SetupPassive {
		return RoleClient
	}
	return RoleServer
}

// SetupFor is the a=setup value that announces role r in an answer.
func SetupFor(r Role) Setup {
	if r == RoleServer {
		return SetupPassive
	}
	return SetupActive
}

// NewTLSID returns a random a=tls-id value (32 hex characters, RFC 8842).
func NewTLSID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("tls-id: %w", err)
	}
	return strings.ToUpper(hex.EncodeToString(b[:])), nil
}
