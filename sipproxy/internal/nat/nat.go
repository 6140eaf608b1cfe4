// Package nat implements nathelper's fix_nated_contact and
// fix_nated_register: trusting the packet source over what a client behind
// NAT (or a browser with a .invalid host) wrote in its Contact.
package nat

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// FixContact rewrites the host:port of every Contact of msg to source
// (ip:port), keeping the URI's other parts and parameters. A "*" Contact is
// left alone. It reports how many contacts it changed.
func FixContact(msg sip.Message, source string) (int, error) {
	host, portStr, err := net.SplitHostPort(source)
	if err != nil {
		return 0, fmt.Errorf("fix_nated_contact: source %q: %w", source, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return 0, fmt.Errorf("fix_nated_contact: source port %q: %w", portStr, err)
	}
	n := 0
	for _, h := range msg.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok || c.Address.Wildcard {
			continue
		}
		c.Address.Host = host
		c.Address.Port = port
		n++
	}
	return n, nil
}

// ReceivedURI is fix_nated_register's value: sip:ip:port plus
// ;transport=proto unless the transport is UDP.
func ReceivedURI(source, transport string) string {
	t := strings.ToLower(transport)
	if t == "" || t == "udp" {
		return "sip:" + source
	}
	return "sip:" + source + ";transport=" + t
}
