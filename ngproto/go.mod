module sipmedia/ngproto

go 1.26.0

require github.com/jackpal/bencode-go v1.0.2

require (
	github.com/coder/websocket v1.8.15
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.49.0
)
