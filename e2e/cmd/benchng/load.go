package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"sipmedia/ngproto"
)

const (
	benchSDPA = "v=0\r\no=- 1545997027 1 IN IP4 127.0.0.2\r\ns=bench\r\nt=0 0\r\n" +
		"m=audio 2000 RTP/AVP 0 8 101\r\nc=IN IP4 127.0.0.2\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
	benchSDPB = "v=0\r\no=- 2873397496 1 IN IP4 127.0.0.3\r\ns=bench\r\nt=0 0\r\n" +
		"m=audio 3000 RTP/AVP 0 101\r\nc=IN IP4 127.0.0.3\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
)

// result is one measurement: one daemon, one number of clients.
type result struct {
	Cycles   int
	Errors   int
	Elapsed  time.Duration
	Warmup   time.Duration
	P50, P99 time.Duration
	FirstErr string
}

func (r result) rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Cycles) / r.Elapsed.Seconds()
}

// measure runs offer+answer+delete cycles from n clients (one UDP socket
// each, as n proxy processes would have) for d after a warm-up, and
// reports completed cycles per second and cycle latency percentiles.
func measure(ctx context.Context, addr string, n int, warmup, d time.Duration, tag string) (result, error) {
	clients := make([]*ngproto.Client, n)
	for i := range clients {
		// One client per worker, one request in flight each, as a proxy
		// worker has. A lost datagram is retried once after a second
		// (and counted if that fails).
		c, err := ngproto.Dial(addr, ngproto.ClientConfig{Retries: 2, Interval: time.Second})
		if err != nil {
			for _, c := range clients[:i] {
				c.Close()
			}
			return result{}, fmt.Errorf("dial %s: %w", addr, err)
		}
		clients[i] = c
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()

	runCtx, cancel := context.WithTimeout(ctx, warmup+d)
	defer cancel()
	start := time.Now()
	measureFrom := start.Add(warmup)

	type workerOut struct {
		lat      []time.Duration
		errs     int
		firstErr string
	}
	outs := make([]workerOut, n)
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outs[w]
			for i := 0; ; i++ {
				callID := fmt.Sprintf("bench-%s-%d-%d-%d", tag, n, w, i)
				t0 := time.Now()
				err := cycle(runCtx, clients[w], callID)
				t1 := time.Now()
				if runCtx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
					return // the measurement ended mid-cycle: not counted
				}
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					o.errs++
					if o.firstErr == "" {
						o.firstErr = err.Error()
					}
					continue
				}
				o.lat = append(o.lat, t1.Sub(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(measureFrom)
	tallies := make([]tally, len(outs))
	for i, o := range outs {
		tallies[i] = tally{o.lat, o.errs, o.firstErr}
	}
	return summarize(tallies, elapsed, warmup), nil
}

// tally is one client's share of a measurement.
type tally struct {
	lat   []time.Duration
	errs  int
	first string
}

// summarize merges the clients' tallies into one result.
func summarize(tallies []tally, elapsed, warmup time.Duration) result {
	var all []time.Duration
	var res result
	for _, t := range tallies {
		all = append(all, t.lat...)
		res.Errors += t.errs
		if res.FirstErr == "" {
			res.FirstErr = t.first
		}
	}
	slices.Sort(all)
	res.Cycles, res.Elapsed, res.Warmup = len(all), elapsed, warmup
	res.P50, res.P99 = percentile(all, 0.50), percentile(all, 0.99)
	return res
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

var errNotOK = errors.New("reply not ok")

// cycle runs one call: offer, answer, delete. Any reply that is not "ok"
// (or an offer/answer reply without SDP) is an error.
func cycle(ctx context.Context, c *ngproto.Client, callID string) error {
	steps := []ngproto.Dict{
		{"command": "offer", "call-id": callID, "from-tag": "a", "sdp": benchSDPA},
		{"command": "answer", "call-id": callID, "from-tag": "a", "to-tag": "b", "sdp": benchSDPB},
		{"command": "delete", "call-id": callID, "from-tag": "a"},
	}
	for _, req := range steps {
		r, err := c.Do(ctx, req)
		if err != nil {
			return fmt.Errorf("%s: %w", req.Str("command"), err)
		}
		if r.Result() != "ok" {
			return fmt.Errorf("%s: %w: %s %s", req.Str("command"), errNotOK, r.Result(), r.Str("error-reason"))
		}
		if req.Str("command") != "delete" && r.Str("sdp") == "" {
			return fmt.Errorf("%s: %w: no sdp", req.Str("command"), errNotOK)
		}
	}
	return nil
}
