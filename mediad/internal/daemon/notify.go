package daemon

import (
	"fmt"
	"net"
	"os"
)

// notifySystemd sends a state line ("READY=1", "STOPPING=1") to systemd
// when it started us with Type=notify, as Debian's rtpengine unit does. It
// is a no-op without $NOTIFY_SOCKET.
func notifySystemd(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // abstract socket namespace
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state + "\n")); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
