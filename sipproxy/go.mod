module sipmedia/sipproxy

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/emiago/sipgo v1.7.3
	github.com/gobwas/ws v1.3.2
	github.com/icholy/digest v1.2.0
	golang.org/x/sys v0.49.0
	sipmedia/ngproto v0.0.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/pool v0.2.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackpal/bencode-go v1.0.2 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sync v0.16.0 // indirect
)

replace sipmedia/ngproto => ../ngproto
