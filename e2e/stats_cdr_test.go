package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
)

// syslogLine is one line a daemon wrote to its /dev/log.
type syslogLine struct {
	pri  int
	text string
}

// rtpengine's own log names its pid, its CDR, RTCP and DTMF logs do not;
// a line may hold CR LF (rtpengine logs SDP as it is).
var syslogRE = regexp.MustCompile(`(?s)^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (?:rtpengine|mediad)(?:\[\d+\])?: (.*)$`)

// devLog opens a unixgram socket for onBothDaemonsOpts' DevLog and
// returns a channel of the lines it receives (closed with the test).
func devLog(t *testing.T) (string, <-chan syslogLine) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	out := make(chan syslogLine, 100)
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			m := syslogRE.FindSubmatch(bytes.TrimRight(buf[:n], "\n"))
			if m == nil {
				t.Errorf("not a syslog line: %q", buf[:n])
				continue
			}
			pri, _ := strconv.Atoi(string(m[1]))
			select {
			case out <- syslogLine{pri, string(m[2])}:
			default:
				t.Errorf("syslog line dropped: %q", buf[:n])
			}
		}
	}()
	return path, out
}

// cdrFields splits a CDR line ("key=value, ..., ") into its keys in
// order and its values.
func cdrFields(t *testing.T, line string) ([]string, map[string]string) {
	t.Helper()
	body, ok := strings.CutSuffix(line, ", ")
	if !ok {
		t.Errorf("CDR line without rtpengine's trailing separator: %q", line)
	}
	var keys []string
	vals := map[string]string{}
	for _, f := range strings.Split(body, ", ") {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("CDR field %q has no value", f)
		}
		if _, dup := vals[k]; dup && k != "payload_type" {
			t.Errorf("CDR field %s twice", k)
		}
		keys = append(keys, k)
		vals[k] = v
	}
	return keys, vals
}

// voice sends n PCMU packets from p.
func (p *blockParty) voice(t *testing.T, n int) {
	t.Helper()
	for range n {
		p.seq++
		pkt := make([]byte, 12+160)
		pkt[0] = 0x80
		binary.BigEndian.PutUint16(pkt[2:], p.seq)
		binary.BigEndian.PutUint32(pkt[4:], uint32(p.seq)*160)
		binary.BigEndian.PutUint32(pkt[8:], p.ssrc)
		if _, err := p.rtp.WriteToUDPAddrPort(pkt, p.to); err != nil {
			t.Fatal(err)
		}
	}
}

// cliCommand sends one command to a daemon's CLI port and returns the
// reply.
func cliCommand(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", cmd); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}

// TestCDRLog runs rtpengine and mediad with --log-facility-cdr and
// --log-facility-dtmf, each with a /dev/log of the test's own, and checks
// the CDR line of a call ended by delete, one ended by the CLI's
// terminate and one ended by the media timeout: the same fields in the
// same order on both, with the values the test knows (tags, addresses,
// ports, packets and bytes received from each party, its most frequent
// payload type, the termination reason), and the DTMF event's JSON line.
func TestCDRLog(t *testing.T) {
	const (
		cdrPRI  = 17*8 + 6 // local1.info
		dtmfPRI = 18*8 + 6 // local2.info
	)
	var mu sync.Mutex
	keys := map[string][][]string{} // daemon -> each CDR's keys, in call order
	t.Run("daemons", func(t *testing.T) {
		logs := map[string]<-chan syslogLine{}
		setup := func(t *testing.T, name string, o *daemon.Options) {
			path, lines := devLog(t)
			mu.Lock()
			logs[name] = lines
			mu.Unlock()
			o.DevLog = path
			o.Extra = []string{"--log-facility-cdr=local1", "--log-facility-dtmf=local2", "--timeout=3"}
		}
		onBothDaemonsOpts(t, setup, func(t *testing.T, name string, o daemon.Options) {
			mu.Lock()
			lines := logs[name]
			mu.Unlock()
			// Lines by what they are: the DTMF event's JSON, or the
			// CDR of a call-id (the calls may end in any order).
			seen := map[string]syslogLine{}
			wait := func(what string, within time.Duration) syslogLine {
				t.Helper()
				timeout := time.After(within)
				for {
					if l, ok := seen[what]; ok {
						return l
					}
					select {
					case l := <-lines:
						key := "DTMF"
						if ci, ok := strings.CutPrefix(l.text, "ci="); ok {
							key, _, _ = strings.Cut(ci, ",")
						}
						seen[key] = l
					case <-timeout:
						t.Fatalf("no %s line in %v", what, within)
					}
				}
			}
			t0 := time.Now()
			// The call for the media timeout first: it ends while the
			// others run.
			ta, tb := newBlockCall(t, o.NG, "cdr-timeout-"+name, nil)

			a, b := newBlockCall(t, o.NG, "cdr-"+name, nil)
			for range 3 {
				a.send(t)
				b.send(t)
			}
			a.sendEvent(t, 101, 5, 10, 160000) // a: 3 voice, 9 event packets
			b.voice(t, 3)                      // b: 6 voice, 3 event packets
			receivedBy(t, a, b)
			ngDo(t, o.NG, del("cdr-"+name, nil))
			l := wait("DTMF", 5*time.Second)
			var ev dtmfLine
			if err := json.Unmarshal([]byte(l.text), &ev); err != nil || l.pri != dtmfPRI {
				t.Fatalf("DTMF line <%d> %q: %v", l.pri, l.text, err)
			}
			slices.Sort(ev.Tags)
			ev.Timestamp = 0
			want := dtmfLine{CallID: "cdr-" + name, SourceTag: "ta", Tags: []string{"ta", "tb"}, Type: "DTMF",
				SourceIP: "127.0.0.1", Event: 5, Duration: 80, Volume: 10}
			if !reflect.DeepEqual(ev, want) {
				t.Errorf("DTMF line %+v, want %+v", ev, want)
			}

			check := func(l syslogLine, callID, term string, parties [2]cdrParty) []string {
				t.Helper()
				if l.pri != cdrPRI {
					t.Errorf("CDR at priority %d, want %d: %q", l.pri, cdrPRI, l.text)
				}
				k, v := cdrFields(t, l.text)
				t1 := time.Now()
				inTime := func(key string) {
					t.Helper()
					f, err := strconv.ParseFloat(v[key], 64)
					if err != nil || f < float64(t0.Unix()) || f > float64(t1.Unix()+1) {
						t.Errorf("%s: %s=%q, not a time of the test", callID, key, v[key])
					}
				}
				if v["ci"] != callID || v["tos"] != "0" || !regexp.MustCompile(`^127\.0\.0\.1:\d+$`).MatchString(v["created_from"]) {
					t.Errorf("%s: call fields %q", callID, l.text)
				}
				inTime("last_signal")
				for i, p := range parties {
					ml := fmt.Sprintf("ml%d_", i)
					inTime(ml + "start_time")
					inTime(ml + "end_time")
					start, _ := strconv.ParseFloat(v[ml+"start_time"], 64)
					end, _ := strconv.ParseFloat(v[ml+"end_time"], 64)
					dur, _ := strconv.ParseFloat(v[ml+"duration"], 64)
					if d := end - start - dur; d > 2e-6 || d < -2e-6 || !regexp.MustCompile(`^\d+\.\d{6}$`).MatchString(v[ml+"duration"]) {
						t.Errorf("%s: %s start %s, end %s, duration %s", callID, ml, v[ml+"start_time"], v[ml+"end_time"], v[ml+"duration"])
					}
					got := map[string]string{}
					for _, f := range []string{"termination", "local_tag", "local_tag_type", "remote_tag"} {
						got[f] = v[ml+f]
					}
					wantParty := map[string]string{"termination": term, "local_tag": p.tag, "local_tag_type": p.tagType, "remote_tag": p.remote}
					if !reflect.DeepEqual(got, wantParty) {
						t.Errorf("%s: %s fields %v, want %v", callID, ml, got, wantParty)
					}
					for _, comp := range []string{"rtp", "rtcp"} {
						pre := ml + "midx1_" + comp + "_"
						inTime(pre + "last_packet")
						got := map[string]string{}
						for _, f := range []string{"endpoint_ip", "endpoint_port", "local_relay_ip", "local_relay_port",
							"relayed_packets", "relayed_bytes", "relayed_errors", "in_tos_tclass"} {
							got[f] = v[pre+f]
						}
						s := p.rtp
						if comp == "rtcp" {
							s = p.rtcp
						}
						want := map[string]string{"endpoint_ip": "127.0.0.1", "endpoint_port": strconv.Itoa(s.port),
							"local_relay_ip": "127.0.0.1", "local_relay_port": strconv.Itoa(s.relayPort),
							"relayed_packets": strconv.Itoa(s.packets), "relayed_bytes": strconv.Itoa(s.bytes),
							"relayed_errors": "0", "in_tos_tclass": "0"}
						if !reflect.DeepEqual(got, want) {
							t.Errorf("%s: %s fields %v, want %v", callID, pre, got, want)
						}
					}
				}
				// payload_type has no party prefix: the first is ml0's.
				var pts []string
				for i, key := range k {
					if key == "payload_type" {
						pts = append(pts, strings.Split(strings.Split(l.text, ", ")[i], "=")[1])
					}
				}
				if want := []string{parties[0].pt, parties[1].pt}; !slices.Equal(pts, want) {
					t.Errorf("%s: payload types %v, want %v", callID, pts, want)
				}
				return k
			}
			party := func(p *blockParty, tag, tagType, remote, pt string, rtpPkts, rtpBytes, rtcpPkts int) cdrParty {
				return cdrParty{tag: tag, tagType: tagType, remote: remote, pt: pt,
					rtp:  cdrStream{port: p.rtp.LocalAddr().(*net.UDPAddr).Port, relayPort: int(p.to.Port()), packets: rtpPkts, bytes: rtpBytes},
					rtcp: cdrStream{port: p.rtcp.LocalAddr().(*net.UDPAddr).Port, relayPort: int(p.toRTCP.Port()), packets: rtcpPkts, bytes: 28 * rtcpPkts}}
			}
			var got [][]string
			l = wait("cdr-"+name, 5*time.Second)
			got = append(got, check(l, "cdr-"+name, "REGULAR", [2]cdrParty{
				party(a, "ta", "FROM_TAG", "tb", "101", 12, 3*172+9*16, 3),
				party(b, "tb", "TO_TAG", "ta", "0", 9, 6*172+3*16, 3)}))

			c, d := newBlockCall(t, o.NG, "cdr-forced-"+name, nil)
			if r := cliCommand(t, o.CLI, "terminate cdr-forced-"+name); !strings.Contains(r, "terminated") {
				t.Errorf("terminate: %q", r)
			}
			l = wait("cdr-forced-"+name, 5*time.Second)
			got = append(got, check(l, "cdr-forced-"+name, "FORCED", [2]cdrParty{
				party(c, "ta", "FROM_TAG", "tb", "unknown", 0, 0, 0),
				party(d, "tb", "TO_TAG", "ta", "unknown", 0, 0, 0)}))

			l = wait("cdr-timeout-"+name, 10*time.Second)
			got = append(got, check(l, "cdr-timeout-"+name, "TIMEOUT", [2]cdrParty{
				party(ta, "ta", "FROM_TAG", "tb", "unknown", 0, 0, 0),
				party(tb, "tb", "TO_TAG", "ta", "unknown", 0, 0, 0)}))
			mu.Lock()
			keys[name] = got
			mu.Unlock()
		})
	})
	m, r := keys["mediad"], keys["rtpengine"]
	if len(m) != 3 || len(r) != 3 {
		t.Fatal("a daemon's run did not finish")
	}
	for i := range m {
		if !slices.Equal(m[i], r[i]) {
			t.Errorf("CDR %d: fields\n mediad    %v\n rtpengine %v", i, m[i], r[i])
		}
	}
}

// cdrParty is what a CDR should say of a party of a call.
type cdrParty struct {
	tag, tagType, remote, pt string
	rtp, rtcp                cdrStream
}

type cdrStream struct {
	port, relayPort, packets, bytes int
}
