package webrtc

import (
	"fmt"
	"strings"

	"sipmedia/mediad/internal/webrtc/dtlssrtp"
	"sipmedia/mediad/internal/webrtc/ice"
	"sipmedia/mediad/internal/webrtc/sdes"
)

// Attr is one SDP attribute line without "a=": Name and, for value
// attributes, Value ("a=setup:actpass" is {"setup", "actpass"}).
type Attr struct {
	Name, Value string
}

func (a Attr) String() string {
	if a.Value == "" {
		return "a=" + a.Name
	}
	return "a=" + a.Name + ":" + a.Value
}

// Remote is what a peer's SDP says about ICE, DTLS and SDES for one media
// section (session-level values apply where the media has none).
type Remote struct {
	ICE             ice.Credentials
	ICELite         bool
	ICEOptions      string
	Candidates      []ice.Candidate
	EndOfCandidates bool
	Setup           dtlssrtp.Setup
	Fingerprint     *dtlssrtp.Fingerprint
	TLSID           string
	Crypto          []sdes.Crypto
	RTCPMux         bool
}

// ParseRemote reads the security attributes of one media section. Bad
// candidate and crypto lines are skipped (rtpengine ignores them too);
// an unusable fingerprint is an error only when it is the only one.
func ParseRemote(session, media []Attr) (Remote, error) {
	var r Remote
	var fpErr error
	apply := func(attrs []Attr, sessionLevel bool) {
		for _, a := range attrs {
			switch strings.ToLower(a.Name) {
			case "ice-ufrag":
				r.ICE.Ufrag = a.Value
			case "ice-pwd":
				r.ICE.Pwd = a.Value
			case "ice-lite":
				r.ICELite = true
			case "ice-options":
				r.ICEOptions = a.Value
			case "candidate":
				if sessionLevel {
					continue
				}
				if c, err := ice.ParseCandidate(a.Value); err == nil {
					r.Candidates = append(r.Candidates, c)
				}
			case "end-of-candidates":
				r.EndOfCandidates = true
			case "setup":
				if s, err := dtlssrtp.ParseSetup(a.Value); err == nil {
					r.Setup = s
				}
			case "fingerprint":
				fp, err := dtlssrtp.ParseFingerprint(a.Value)
				if err != nil {
					fpErr = err
					continue
				}
				// Prefer the first supported fingerprint at the most
				// specific level.
				if r.Fingerprint == nil || !sessionLevel {
					r.Fingerprint = &fp
				}
			case "tls-id":
				r.TLSID = a.Value
			case "crypto":
				if sessionLevel {
					continue
				}
				if c, err := sdes.Parse(a.Value); err == nil {
					r.Crypto = append(r.Crypto, c)
				}
			case "rtcp-mux":
				if !sessionLevel {
					r.RTCPMux = true
				}
			}
		}
	}
	apply(session, true)
	sessFP := r.Fingerprint
	r.Fingerprint = nil
	apply(media, false)
	if r.Fingerprint == nil {
		r.Fingerprint = sessFP
	}
	if r.Fingerprint == nil && fpErr != nil {
		return r, fmt.Errorf("a=fingerprint: %w", fpErr)
	}
	return r, nil
}

// Local is what we announce for one media section.
type Local struct {
	Crypto          []sdes.Crypto
	PadCrypto       bool
	Setup           dtlssrtp.Setup
	Fingerprint     *dtlssrtp.Fingerprint
	TLSID           string
	ICE             *ice.Credentials
	ICEOptions      string
	Candidates      []ice.Candidate
	EndOfCandidates bool
}

// SecurityAttrs returns a=crypto, a=setup, a=fingerprint and a=tls-id in
// rtpengine's order (they precede a=ptime).
func (l Local) SecurityAttrs() []Attr {
	var out []Attr
	for _, c := range l.Crypto {
		out = append(out, Attr{"crypto", c.Format(l.PadCrypto)})
	}
	if l.Fingerprint != nil {
		if l.Setup != "" {
			out = append(out, Attr{"setup", string(l.Setup)})
		}
		out = append(out, Attr{"fingerprint", l.Fingerprint.String()})
		if l.TLSID != "" {
			out = append(out, Attr{"tls-id", l.TLSID})
		}
	}
	return out
}

// ICEAttrs returns a=ice-ufrag, a=ice-pwd, a=ice-options, the candidates
// and a=end-of-candidates, in rtpengine's order (last in the section).
func (l Local) ICEAttrs() []Attr {
	if l.ICE == nil {
		return nil
	}
	out := []Attr{{"ice-ufrag", l.ICE.Ufrag}, {"ice-pwd", l.ICE.Pwd}}
	if l.ICEOptions != "" {
		out = append(out, Attr{"ice-options", l.ICEOptions})
	}
	for _, c := range l.Candidates {
		out = append(out, Attr{"candidate", c.String()})
	}
	if l.EndOfCandidates {
		out = append(out, Attr{"end-of-candidates", ""})
	}
	return out
}
