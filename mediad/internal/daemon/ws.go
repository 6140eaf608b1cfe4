package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"sipmedia/mediad/internal/cli"
	"sipmedia/ngproto"
)

// rtpengine's WebSocket subprotocols on its HTTP and HTTPS listeners
// (daemon/websocket.c), on any path: NG messages ("<cookie> <body>", as
// over UDP; Kamailio's and OpenSIPS's ws:// and wss:// rtpengine
// sockets), CLI commands, and an echo for testing.
const (
	wsNG   = "ng.rtpengine.com"
	wsCLI  = "cli.rtpengine.com"
	wsEcho = "echo.rtpengine.com"
)

// wsMaxMessage bounds one WebSocket message: an NG offer of a large SDP
// fits, as it fits a UDP datagram.
const wsMaxMessage = 1 << 20

// wsInFlight bounds the NG requests of one connection handled at once.
const wsInFlight = 16

// isWebSocket reports a WebSocket upgrade request.
func isWebSocket(r *http.Request) bool {
	if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// wsSubprotocol is the first subprotocol the client asked for that we
// speak ("" if none).
func wsSubprotocol(r *http.Request) string {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			switch p = strings.TrimSpace(p); p {
			case wsNG, wsCLI, wsEcho:
				return p
			}
		}
	}
	return ""
}

// serveWebSocket runs one WebSocket connection until it closes or the
// daemon stops. Every reply is a binary message, as rtpengine sends them.
// NG replies may leave in another order than the requests came: the
// cookie pairs them, as over UDP.
func serveWebSocket(w http.ResponseWriter, r *http.Request, ng *ngproto.Server, runner *cli.Runner, log *slog.Logger) {
	proto := wsSubprotocol(r)
	if proto == "" {
		// rtpengine drops such a connection without a word.
		http.Error(w, "unsupported WebSocket subprotocol (want "+wsNG+", "+wsCLI+" or "+wsEcho+")", http.StatusBadRequest)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{proto}})
	if err != nil {
		log.Info("WebSocket handshake failed", "from", r.RemoteAddr, "err", err)
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(wsMaxMessage)
	from, _ := netip.ParseAddrPort(r.RemoteAddr)
	ctx := r.Context()
	log.Debug("WebSocket connection", "from", from, "protocol", proto)

	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, wsInFlight)
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == -1 && ctx.Err() == nil {
				log.Debug("WebSocket read", "from", from, "err", err)
			}
			return
		}
		switch proto {
		case wsNG:
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				if reply := ng.Process(ctx, msg, from); reply != nil {
					wsWrite(ctx, c, reply, log)
				}
			}()
		case wsCLI:
			wsWrite(ctx, c, []byte(runner.Run(ctx, strings.TrimSpace(string(msg)))), log)
		case wsEcho:
			wsWrite(ctx, c, msg, log)
		}
	}
}

func wsWrite(ctx context.Context, c *websocket.Conn, b []byte, log *slog.Logger) {
	if err := c.Write(ctx, websocket.MessageBinary, b); err != nil && ctx.Err() == nil {
		log.Debug("WebSocket write", "err", err)
	}
}
