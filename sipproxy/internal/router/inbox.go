package router

import (
	"sync"

	"github.com/emiago/sipgo/sip"
)

// inboxes carry the responses of relayed UDP branches from the listener's
// read loop (HandleResponse, in arrival order) to one goroutine per branch
// that passes them to the branch's client transaction in that order.
// sipgo would start a goroutine per response instead, so a 180 and a 200
// sent back to back could reach the transaction in either order and the
// 180 was lost. A branch's inbox exists while its relay runs; later
// responses (2xx retransmissions) take sipgo's own path.
type inboxes struct {
	mu sync.Mutex
	m  map[string]chan *sip.Response // by sipgo's client transaction key
}

// inboxSize bounds the responses waiting for one branch; beyond it a
// response is dropped as the network could have (the UAS retransmits
// finals).
const inboxSize = 16

func (b *inboxes) add(key string) chan *sip.Response {
	ch := make(chan *sip.Response, inboxSize)
	b.mu.Lock()
	if b.m == nil {
		b.m = map[string]chan *sip.Response{}
	}
	b.m[key] = ch
	b.mu.Unlock()
	return ch
}

func (b *inboxes) remove(key string) {
	b.mu.Lock()
	delete(b.m, key)
	b.mu.Unlock()
}

func (b *inboxes) get(key string) (chan *sip.Response, bool) {
	b.mu.Lock()
	ch, ok := b.m[key]
	b.mu.Unlock()
	return ch, ok
}

// HandleResponse takes a response read on a UDP listener if it belongs to
// a branch being relayed; false leaves it to sipgo. It never blocks.
func (r *Router) HandleResponse(res *sip.Response) bool {
	key, err := sip.ClientTxKeyMake(res)
	if err != nil {
		return false
	}
	ch, ok := r.inbox.get(key)
	if !ok {
		return false
	}
	select {
	case ch <- res:
	default:
		r.Metrics.InboxFull.Add(1)
	}
	return true
}

// deliver passes a branch's responses to its transaction, in order, until
// the relay ends.
func (run *relayRun) deliver(ch <-chan *sip.Response, tx *sip.ClientTx) {
	for {
		select {
		case res := <-ch:
			tx.Receive(res)
		case <-run.done:
			return
		}
	}
}
