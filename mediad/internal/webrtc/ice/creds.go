package ice

import (
	"crypto/rand"
	"fmt"
)

// Credentials are one side's ice-ufrag and ice-pwd.
type Credentials struct {
	Ufrag string
	Pwd   string
}

// Lengths used by rtpengine for generated credentials.
const (
	UfragLen = 8
	PwdLen   = 26
)

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewCredentials returns random alphanumeric credentials of rtpengine's
// lengths (8 and 26 characters).
func NewCredentials() (Credentials, error) {
	u, err := randomString(UfragLen)
	if err != nil {
		return Credentials{}, fmt.Errorf("ice ufrag: %w", err)
	}
	p, err := randomString(PwdLen)
	if err != nil {
		return Credentials{}, fmt.Errorf("ice pwd: %w", err)
	}
	return Credentials{Ufrag: u, Pwd: p}, nil
}

// randomString draws n characters from alnum without modulo bias.
func randomString(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < 256-256%len(alnum) && len(out) < n {
				out = append(out, alnum[int(b)%len(alnum)])
			}
		}
	}
	return string(out), nil
}
