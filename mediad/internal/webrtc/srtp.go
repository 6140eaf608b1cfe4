package webrtc

import (
	"fmt"
	"strings"
	"sync"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// ReplayWindow is the SRTP/SRTCP replay window in packets.
const ReplayWindow = 128

// cryptoState holds one direction pair of SRTP contexts. Each context is
// used under its own mutex: inbound from this port's read loop, outbound
// from the opposite stream's loop, so the locks are uncontended.
type cryptoState struct {
	profile srtp.ProtectionProfile

	inMu   sync.Mutex
	in     *srtp.Context
	inRTP  rtp.Header
	inRTCP rtcp.Header

	outMu   sync.Mutex
	out     *srtp.Context
	outRTP  rtp.Header
	outRTCP rtcp.Header
}

// CryptoOptions carries SDES session parameters.
type CryptoOptions struct {
	UnencryptedSRTP, UnencryptedSRTCP bool
}

func newCryptoState(profile srtp.ProtectionProfile, k srtp.SessionKeys, o CryptoOptions) (*cryptoState, error) {
	var opts []srtp.ContextOption
	if o.UnencryptedSRTP {
		opts = append(opts, srtp.SRTPNoEncryption())
	}
	if o.UnencryptedSRTCP {
		opts = append(opts, srtp.SRTCPNoEncryption())
	}
	in, err := srtp.CreateContext(k.RemoteMasterKey, k.RemoteMasterSalt, profile,
		append(opts, srtp.SRTPReplayProtection(ReplayWindow), srtp.SRTCPReplayProtection(ReplayWindow))...)
	if err != nil {
		return nil, fmt.Errorf("inbound SRTP context: %w", err)
	}
	out, err := srtp.CreateContext(k.LocalMasterKey, k.LocalMasterSalt, profile, opts...)
	if err != nil {
		return nil, fmt.Errorf("outbound SRTP context: %w", err)
	}
	return &cryptoState{profile: profile, in: in, out: out}, nil
}

// decrypt authenticates and decrypts b in place.
func (s *cryptoState) decrypt(b []byte) (out []byte, rtcpPkt bool, err error) {
	s.inMu.Lock()
	defer s.inMu.Unlock()
	if isRTCP(b) {
		out, err = s.in.DecryptRTCP(b, b, &s.inRTCP)
		return out, true, err
	}
	out, err = s.in.DecryptRTP(b, b, &s.inRTP)
	return out, false, err
}

func (s *cryptoState) encrypt(dst, plain []byte) (out []byte, rtcpPkt bool, err error) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if isRTCP(plain) {
		out, err = s.out.EncryptRTCP(dst, plain, &s.outRTCP)
		return out, true, err
	}
	out, err = s.out.EncryptRTP(dst, plain, &s.outRTP)
	return out, false, err
}

func isReplay(err error) bool {
	return err != nil && strings.Contains(err.Error(), "duplicated")
}
