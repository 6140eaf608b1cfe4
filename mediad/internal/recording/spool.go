// Package recording writes calls to a spool directory as rtpengine's
// pcap recording method does: per call, one pcap file of every packet the
// parties sent (decrypted, with made-up IP and UDP headers) in pcaps/, and
// one metadata text file (the pcap's path, each SDP sent with the packet
// number it came before, start and end times, the call's metadata) that
// is written in tmp/ and moved to metadata/ when the recording ends.
//
// It knows nothing about calls or the relay: package call starts and
// finishes recordings, and the relay hands each packet to Packet.
package recording

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Errors of Open.
var (
	ErrMethod = errors.New("recording method not supported")
	ErrFormat = errors.New("invalid value for recording format")
)

// Spool is a recording directory with rtpengine's layout: metadata/,
// pcaps/ and tmp/ below it.
type Spool struct {
	dir string
	eth bool // Ethernet frames (--recording-format=eth), else raw IP
}

// Open checks method and format and readies dir (rtpengine's
// --recording-dir, --recording-method, --recording-format): dir is made
// if missing (mode 0700), and its three subdirectories too.
//
// Only the pcap method exists here. rtpengine's "proc" method hands the
// packets to its kernel module for a separate recording daemon, and
// mediad has neither; Open returns ErrMethod for it.
func Open(dir, method, format string) (*Spool, error) {
	if method == "" {
		method = "pcap"
	}
	if method != "pcap" {
		return nil, fmt.Errorf("recording method %q: %w (mediad records with pcap only)", method, ErrMethod)
	}
	s := &Spool{dir: strings.TrimSuffix(dir, "/")}
	switch format {
	case "", "raw":
	case "eth":
		s.eth = true
	default:
		return nil, fmt.Errorf("%w %q (raw or eth)", ErrFormat, format)
	}
	if s.dir == "" {
		s.dir = "/"
	}
	if err := ensureDir(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool directory: %w", err)
	}
	for _, sub := range []string{"metadata", "pcaps", "tmp"} {
		if err := ensureDir(filepath.Join(s.dir, sub), 0o777); err != nil {
			return nil, fmt.Errorf("spool directory: %w", err)
		}
	}
	return s, nil
}

// Dir is the spool directory.
func (s *Spool) Dir() string { return s.dir }

func ensureDir(dir string, mode fs.FileMode) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.Mkdir(dir, mode)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%q exists but is not a directory", dir)
	}
	return nil
}

// prefix names a new recording's files as rtpengine does: the escaped
// call-id, a dash and 16 random hex digits.
func prefix(callID string) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return escape(callID) + "-" + hex.EncodeToString(r[:])
}

// escape is GLib's g_uri_escape_string without allowed reserved
// characters, which rtpengine uses for file names: everything but
// letters, digits and "-._~" becomes %XX.
func escape(s string) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexUpper[c>>4])
			b.WriteByte(hexUpper[c&15])
		}
	}
	return b.String()
}
