package kmod

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Sentinel errors. Open wraps the underlying netlink error with one of the
// first two so that the daemon can log a single line and fall back to
// userspace forwarding (or refuse to start with --no-fallback).
var (
	// ErrPermission means the process may not program nftables (no
	// CAP_NET_ADMIN in the network namespace).
	ErrPermission = errors.New("kmod: no permission for nftables netlink")
	// ErrUnsupported means the kernel lacks a needed feature (nf_tables,
	// an expression type) or the namespace does not forward or, for IPv4,
	// does not accept its own addresses as sources (see the package doc).
	ErrUnsupported = errors.New("kmod: kernel fast path not supported here")
	// ErrDisabled is returned by the methods of a nil *Offloader.
	ErrDisabled = errors.New("kmod: kernel fast path disabled")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("kmod: offloader closed")
	// ErrNotFound is returned by Remove and Counters for a flow that was
	// never added (or already removed).
	ErrNotFound = errors.New("kmod: flow not offloaded")
	// ErrInvalidFlow is returned by Add for a flow the kernel path cannot
	// carry (wrong family, port outside the range, missing address).
	ErrInvalidFlow = errors.New("kmod: invalid flow")
	// ErrBusy means another live process owns the same table in the same
	// network namespace.
	ErrBusy = errors.New("kmod: table in use by another process")
	// ErrFull means the Offloader holds its maximum number of flows.
	ErrFull = errors.New("kmod: flow table full")
)

// classify maps a netlink error onto ErrPermission or ErrUnsupported when it
// says so, keeping the original error in the chain.
func classify(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%s: %w: %w", what, ErrPermission, err)
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOENT),
		errors.Is(err, unix.EAFNOSUPPORT), errors.Is(err, unix.EPROTONOSUPPORT):
		return fmt.Errorf("%s: %w: %w", what, ErrUnsupported, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}
