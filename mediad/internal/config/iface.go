package config

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// parseInterface parses one -i value, [NAME/]IP[!ADVERTISED], as
// rtpengine's if_addr_parse does. IP may be an address, a system interface
// name (every address of it, link-local IPv6 skipped), "any" (every address
// of every non-loopback interface that is up) or a DNS name.
func parseInterface(spec string) ([]Interface, error) {
	bad := func(why string) error { return fmt.Errorf("invalid interface specification %q: %s", spec, why) }
	name, rest := "default", spec
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		name, rest = rest[:i], rest[i+1:]
		if name == "" {
			return nil, bad("empty interface name")
		}
	}
	addrPart, advPart, hasAdv := strings.Cut(rest, "!")
	addrs, err := resolveLocal(strings.TrimSpace(addrPart))
	if err != nil {
		return nil, bad(err.Error())
	}
	var adv netip.Addr
	if hasAdv {
		adv, err = resolveOne(strings.TrimSpace(advPart))
		if err != nil {
			return nil, bad(err.Error())
		}
		if adv.IsUnspecified() {
			return nil, bad("unspecified advertised address")
		}
	}
	out := make([]Interface, 0, len(addrs))
	for _, a := range addrs {
		ifc := Interface{Name: name, Address: a, Advertised: a}
		if adv.IsValid() {
			ifc.Advertised = adv
		}
		out = append(out, ifc)
	}
	return out, nil
}

// resolveLocal turns the address part of -i into addresses.
func resolveLocal(s string) ([]netip.Addr, error) {
	if s == "" {
		return nil, fmt.Errorf("no address")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.IsUnspecified() {
			return nil, fmt.Errorf("unspecified address")
		}
		return []netip.Addr{a.Unmap()}, nil
	}
	if addrs, err := systemInterfaceAddrs(s); err == nil && len(addrs) > 0 {
		return addrs, nil
	}
	a, err := lookup(s)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// systemInterfaceAddrs lists the usable addresses of the named interface,
// or of all non-loopback interfaces for "any".
func systemInterfaceAddrs(name string) ([]netip.Addr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	var out []netip.Addr
	for _, ifc := range ifs {
		if name == "any" {
			if ifc.Flags&net.FlagLoopback != 0 {
				continue
			}
		} else if ifc.Name != name {
			continue
		}
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.Is6() && ip.IsLinkLocalUnicast() { // rtpengine skips scoped addresses
				continue
			}
			out = append(out, ip)
		}
	}
	return out, nil
}

func lookup(host string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("%q is neither an address, an interface nor a resolvable host name", host)
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, nil
}

func resolveOne(s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), nil
	}
	addrs, err := lookup(s)
	if err != nil {
		return netip.Addr{}, err
	}
	return addrs[0], nil
}
