// Package offload owns mediad's use of the kernel fast path (package kmod):
// opening the nftables tables at startup as rtpengine's -t/--table and
// -F/--no-fallback say (one table per address family in use), falling back
// to userspace forwarding with one log line when the kernel path cannot run
// here, marking the relay's media sockets, and routing flows to the table of
// their family. Which streams are offloaded, and when, is decided by the call
// model (package call, kernel.go); this package knows nothing about calls.
//
// Requirements of the kernel path (checked by kmod.Open): CAP_NET_ADMIN,
// nf_tables, and forwarding enabled in the network namespace
// (net.ipv4.ip_forward=1, net.ipv6.conf.all.forwarding=1 for IPv6) plus
// net.ipv4.conf.all.accept_local=1 for IPv4: a kernelized packet is
// rewritten to come from the relay's own address and then routed, taking
// the forward path to a remote peer. mediad never changes these sysctls
// itself.
package offload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"sipmedia/kmod"
)

// SocketMark is the SO_MARK set on every media socket while the kernel path
// is on (kmod's socket-mark mode): only the relay's own packets are kept out
// of conntrack, so other local UDP traffic in the media port range (which
// overlaps the ephemeral port range by default) keeps its conntrack state.
// The low byte is the table number.
const SocketMark = 0x6d640000 // "md"

// Config selects the kernel path.
type Config struct {
	// Table is rtpengine's -t: negative disables the kernel path.
	Table int
	// NoFallback is rtpengine's -F: Open fails instead of falling back.
	NoFallback bool
	// PortMin and PortMax are the media port range.
	PortMin, PortMax int
	// IPv4 and IPv6 say which families the media interfaces use; a table
	// is opened for each.
	IPv4, IPv6 bool
	// TOS, if non-zero, is set on every offloaded packet (--tos).
	TOS uint8
	// NetNS, if non-zero, is the network namespace to program (tests).
	NetNS int
	Log   *slog.Logger
}

// Kernel is the open kernel path: one kmod.Offloader per family. A nil
// *Kernel is the userspace-only daemon; its methods return kmod.ErrDisabled.
type Kernel struct {
	v4, v6 *kmod.Offloader
	mark   uint32
	log    *slog.Logger
}

// Open opens the kernel path. It returns (nil, nil) when the kernel path is
// disabled (negative table) or unavailable here and fallback is allowed,
// having logged one line saying why; with NoFallback an unavailable kernel
// path is an error.
func Open(ctx context.Context, cfg Config) (*Kernel, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Table < 0 {
		return nil, nil // rtpengine: userspace only, nothing logged, -F ignored
	}
	if !cfg.IPv4 && !cfg.IPv6 {
		cfg.IPv4 = true
	}
	k := &Kernel{mark: SocketMark | uint32(cfg.Table&0xff), log: log}
	kc := kmod.Config{Table: cfg.Table, PortMin: cfg.PortMin, PortMax: cfg.PortMax,
		SocketMark: k.mark, TOS: cfg.TOS, NetNS: cfg.NetNS, Log: log}
	var err error
	if cfg.IPv4 {
		kc.Family = kmod.IPv4
		k.v4, err = kmod.Open(ctx, kc)
	}
	if err == nil && cfg.IPv6 {
		kc.Family = kmod.IPv6
		k.v6, err = kmod.Open(ctx, kc)
		if err != nil && cfg.IPv4 && !cfg.NoFallback && !errors.Is(err, kmod.ErrPermission) {
			// IPv4 works: IPv6 media stays in userspace.
			log.Warn("kernel forwarding unavailable for IPv6, IPv6 media forwarded in userspace",
				"table", cfg.Table, "reason", err.Error())
			return k, nil
		}
	}
	if err == nil {
		return k, nil
	}
	k.Close()
	if cfg.NoFallback {
		return nil, fmt.Errorf("kernel forwarding table %d unavailable and userspace fallback disallowed (-F): %w", cfg.Table, err)
	}
	// rtpengine logs "FAILED TO CREATE KERNEL TABLE n (...), KERNEL
	// FORWARDING DISABLED" here: one line, then userspace.
	log.Warn("kernel forwarding unavailable, forwarding in userspace", "table", cfg.Table, "reason", err.Error())
	if errors.Is(err, kmod.ErrUnsupported) {
		// Leftovers of an earlier instance that could still offload
		// (e.g. before forwarding was turned off); quietly.
		for _, fam := range []kmod.Family{kmod.IPv4, kmod.IPv6} {
			if perr := kmod.Purge(ctx, kmod.Config{Table: cfg.Table, Family: fam, NetNS: cfg.NetNS}); perr != nil {
				log.Debug("purging an earlier kernel table", "family", fam.String(), "err", perr)
			}
		}
	}
	return nil, nil
}

// Enabled reports whether any family is offloaded.
func (k *Kernel) Enabled() bool { return k != nil && (k.v4 != nil || k.v6 != nil) }

// Supports reports whether flows of addr's family can be offloaded.
func (k *Kernel) Supports(addr netip.Addr) bool {
	return k.forAddr(addr) != nil
}

func (k *Kernel) forAddr(a netip.Addr) *kmod.Offloader {
	if k == nil {
		return nil
	}
	if a.Unmap().Is4() {
		return k.v4
	}
	return k.v6
}

func (k *Kernel) forFlow(f kmod.Flow) (*kmod.Offloader, error) {
	o := k.forAddr(f.LocalA.Addr())
	if o == nil {
		return nil, kmod.ErrDisabled
	}
	return o, nil
}

// PrepareSocket marks a media socket for the kernel path's notrack rule.
// Without a kernel path it does nothing.
func (k *Kernel) PrepareSocket(c *net.UDPConn) error {
	if !k.Enabled() || c == nil {
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("offload: %w", err)
	}
	return kmod.MarkSocket(rc, k.mark)
}

// PrepareFD is PrepareSocket for a raw socket descriptor (which stays the
// caller's).
func (k *Kernel) PrepareFD(fd int) error {
	if !k.Enabled() || fd < 0 {
		return nil
	}
	return kmod.MarkSocket(rawFD(fd), k.mark)
}

// rawFD lets kmod.MarkSocket, which takes a syscall.RawConn, set options on
// a plain descriptor.
type rawFD int

func (f rawFD) Control(fn func(fd uintptr)) error { fn(uintptr(f)); return nil }

func (f rawFD) Read(func(fd uintptr) bool) error {
	return errors.New("offload: raw descriptor: read not supported")
}

func (f rawFD) Write(func(fd uintptr) bool) error {
	return errors.New("offload: raw descriptor: write not supported")
}

// Add offloads a flow (both peers latched).
func (k *Kernel) Add(f kmod.Flow) error {
	o, err := k.forFlow(f)
	if err != nil {
		return err
	}
	return o.Add(f)
}

// RemoveStats hands a flow back to userspace and returns its final counters.
func (k *Kernel) RemoveStats(f kmod.Flow) (kmod.Stats, error) {
	o, err := k.forFlow(f)
	if err != nil {
		return kmod.Stats{}, err
	}
	return o.RemoveStats(f)
}

// Counters returns one flow's counters (one netlink round trip).
func (k *Kernel) Counters(f kmod.Flow) (kmod.Stats, error) {
	o, err := k.forFlow(f)
	if err != nil {
		return kmod.Stats{}, err
	}
	return o.Counters(f)
}

// AllCounters returns the counters of every offloaded flow of both
// families (one dump per family).
func (k *Kernel) AllCounters() (map[kmod.FlowKey]kmod.Stats, error) {
	if !k.Enabled() {
		return nil, kmod.ErrDisabled
	}
	out := make(map[kmod.FlowKey]kmod.Stats)
	for _, o := range []*kmod.Offloader{k.v4, k.v6} {
		if o == nil {
			continue
		}
		m, err := o.AllCounters()
		if err != nil {
			return out, err
		}
		for key, st := range m {
			out[key] = st
		}
	}
	return out, nil
}

// Close removes the tables.
func (k *Kernel) Close() error {
	if k == nil {
		return nil
	}
	return errors.Join(k.v4.Close(), k.v6.Close())
}
