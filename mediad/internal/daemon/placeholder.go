package daemon

import (
	"context"
	"net/netip"

	"sipmedia/mediad/internal/cli"
	"sipmedia/ngproto"
)

// placeholderHandler answers ping and refuses everything else, until the
// control handler is plugged in (core.go).
func placeholderHandler(_ context.Context, req ngproto.Dict, _ netip.AddrPort) ngproto.Dict {
	if req.Str("command") == "ping" {
		return ngproto.Pong()
	}
	return ngproto.ErrorReply("Unrecognized command")
}

// noCalls is an empty call table for the placeholder.
type noCalls struct{}

func (noCalls) Counts() cli.Counts                 { return cli.Counts{} }
func (noCalls) Sessions() []cli.Session            { return nil }
func (noCalls) Session(string) (cli.Session, bool) { return cli.Session{}, false }
func (noCalls) Terminate(string) bool              { return false }
func (noCalls) TerminateAll() int                  { return 0 }
func (noCalls) Totals() cli.Totals                 { return cli.Totals{} }
