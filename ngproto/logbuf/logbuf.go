// Package logbuf holds Buffer, the log sink of tests and benchmarks: a
// daemon's stdout and stderr, or a logger's handler, write it from their own
// goroutines while the test reads it. It lives in ngproto, the module every
// other module imports, as testport does.
package logbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that writers and readers may use concurrently.
// The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns a copy of what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
