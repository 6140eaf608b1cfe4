package e2e

import (
	"os"
	"testing"

	"sipmedia/e2e/internal/daemon"
)

// TestMain removes the mediad binary the tests share (built once, see
// daemon.MediadBinaryTB).
func TestMain(m *testing.M) {
	code := m.Run()
	daemon.RemoveBuilt()
	os.Exit(code)
}
