package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/ngproto"
)

// TestLogOptions runs rtpengine and mediad logging to syslog (a /dev/log
// of the test's own, no -E) with rtpengine's log options: -L 5 with the
// control subsystem at 7 and ICE at 2, --max-log-line-length and
// --log-mark-prefix/-suffix. On both: "list loglevel" shows the same
// levels and "set loglevel SUBSYSTEM N" changes one; the control
// subsystem logs each command at info and dumps it at debug while core
// stays at notice (an error is a warning, its reply not logged); lowering
// control silences them; lines are broken at
// the length as rtpengine breaks them; the call-id and the dump are
// marked; a protocol error is a warning, written to stderr too.
func TestLogOptions(t *testing.T) {
	const maxLen = 100
	var mu sync.Mutex
	cliOut := map[string][]string{}
	t.Run("daemons", func(t *testing.T) {
		for i, name := range []string{"mediad", "rtpengine"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				path, lines := devLog(t)
				base := callsMediadA + 100*i
				p, o := daemon.ByNameTB(t, name, daemon.Options{PortMin: base, PortMax: base + 99, DevLog: path, Syslog: true, LogLevel: 5,
					Extra: []string{"--log-level-control=7", "--log-level-ice=2", "--max-log-line-length=100",
						"--log-mark-prefix=[[", "--log-mark-suffix=]]"}})
				// drain collects the lines logged until nothing came
				// for a while, joining the pieces of broken lines.
				drain := func() (whole []syslogLine, pieces int) {
					var pending *syslogLine
					for {
						select {
						case l := <-lines:
							if len(l.text) > maxLen+60 { // rtpengine's prefix is outside the length
								t.Errorf("line of %d bytes: %q", len(l.text), l.text)
							}
							if pending != nil {
								_, rest, ok := strings.Cut(l.text, "... ")
								if !ok {
									t.Errorf("piece after %q does not go on with \"... \": %q", pending.text, l.text)
								}
								pending.text += rest
								l = *pending
								pending = nil
							}
							if s, ok := strings.CutSuffix(l.text, " ..."); ok {
								pieces++
								l.text = s
								pending = &l
								continue
							}
							whole = append(whole, l)
						case <-time.After(time.Second): // quiet for a second: all logged
							if pending != nil {
								t.Errorf("last piece %q never continued", pending.text)
							}
							return whole, pieces
						}
					}
				}
				drain() // start-up lines
				callID := "logopt-" + name
				ngDo(t, o.NG, offer(callID, "ft", sdp(`
					v=0
					o=- 1 1 IN IP4 127.0.0.1
					s=-
					c=IN IP4 127.0.0.1
					t=0 0
					m=audio 4000 RTP/AVP 0`), nil))
				if r := ngTry(t, o.NG, answer("nope-"+name, "ft", "tt", sdp(`
					v=0
					o=- 1 1 IN IP4 127.0.0.1
					s=-
					c=IN IP4 127.0.0.1
					t=0 0
					m=audio 4002 RTP/AVP 0`), nil)); r.Result() != "error" {
					t.Fatalf("answer to an unknown call: %v", r)
				}
				got, pieces := drain()
				var info, debug, warn, marked, dump int
				for _, l := range got {
					switch l.pri & 7 {
					case 6:
						info++
					case 7:
						debug++
					case 4:
						if strings.Contains(l.text, "Protocol error") {
							warn++
						}
					}
					if strings.Contains(l.text, "[["+callID+"]]") {
						marked++
					}
					if strings.Contains(l.text, "Dump for 'offer'") && strings.Contains(l.text, `[[{ `) && strings.Contains(l.text, callID) {
						dump++
					}
				}
				t.Logf("%s: %d lines (%d broken): %d info, %d debug, %d protocol-error warnings, %d with the marked call-id, %d offer dumps",
					name, len(got), pieces, info, debug, warn, marked, dump)
				if info != 3 || debug != 3 || warn != 1 || marked == 0 || dump != 1 || pieces == 0 {
					t.Errorf("%s: want 3 info lines (two commands received, the offer replied to) and 3 debug lines (both dumped, the offer's reply dumped), one protocol error warning (no reply logged), the call-id marked, one marked offer dump, a broken line:", name)
					for _, l := range got {
						t.Logf("<%d> %s", l.pri, l.text)
					}
				}
				if out := p.Output(); !strings.Contains(out, "Protocol error") || !strings.Contains(out, "nope-"+name) {
					t.Errorf("%s: the protocol error is not on stderr too:\n%s", name, out)
				}

				var outs []string
				for _, cmd := range []string{"list loglevel", "set loglevel ice 6", "list loglevel ice", "list loglevel nope",
					"set loglevel control 5", "list loglevel control", "list loglevel core"} {
					outs = append(outs, cmd+" -> "+cliCommand(t, o.CLI, cmd))
				}
				mu.Lock()
				cliOut[name] = outs
				mu.Unlock()
				drain() // the CLI commands' lines
				// control at 5: a command logs nothing below notice.
				ngDo(t, o.NG, ngproto.Dict{"command": "ping"})
				got, _ = drain()
				for _, l := range got {
					if l.pri&7 > 5 {
						t.Errorf("%s: logged at %d with control at 5: %q", name, l.pri&7, l.text)
					}
				}
			})
		}
	})
	if len(cliOut) != 2 {
		return
	}
	if strings.Join(cliOut["mediad"], "") != strings.Join(cliOut["rtpengine"], "") {
		t.Errorf("CLI log levels differ:\nmediad:\n%s\nrtpengine:\n%s", strings.Join(cliOut["mediad"], ""), strings.Join(cliOut["rtpengine"], ""))
	}
	if want := "list loglevel ice -> 6\n"; !strings.Contains(strings.Join(cliOut["mediad"], ""), want) {
		t.Errorf("set loglevel ice 6 did not take: %v", cliOut["mediad"])
	}
}
