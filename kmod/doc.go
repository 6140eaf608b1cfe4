// Package kmod owns mediad's kernel fast path: an nftables table with maps
// and conntrack NAT, programmed over netlink, that forwards established
// plain-RTP flows without userspace.
package kmod
