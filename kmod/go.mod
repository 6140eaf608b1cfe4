module sipmedia/kmod

go 1.26.0

require (
	github.com/google/nftables v0.3.0
	github.com/mdlayher/netlink v1.7.3-0.20250113171957-fbb4dce95f42
	github.com/ti-mo/conntrack v0.6.0
	github.com/vishvananda/netlink v1.3.1
	github.com/vishvananda/netns v0.0.5
	golang.org/x/sys v0.49.0
	sipmedia/ngproto v0.0.0
)

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/jackpal/bencode-go v1.0.2 // indirect
	github.com/mdlayher/socket v0.5.1 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/ti-mo/netfilter v0.5.3 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sync v0.14.0 // indirect
)

// benchkernel drives the real mediad over NG.
replace sipmedia/ngproto => ../ngproto
