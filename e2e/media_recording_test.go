package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/srtp/v3"

	"sipmedia/ngproto"
)

// TestCallRecording compares rtpengine's pcap call recording with
// mediad's on one call between two plain-RTP phones: the offer's
// "record call" key starts it, stop recording ends it, start recording
// starts a second one and the delete ends that. Each recording must have
// the same files as rtpengine's (names, layout, modes), every packet the
// phones sent while it ran (with rtpengine's made-up IP and UDP headers)
// and the same metadata: the pcap's path, each SDP the daemon sent with
// the number of the packet it came before, the termination time, the
// call's start and end and its metadata.
func TestCallRecording(t *testing.T) {
	dirs := map[string]string{"mediad": t.TempDir(), "rtpengine": t.TempDir()}
	extra := func(name string) []string {
		return []string{"--recording-dir=" + dirs[name], "--recording-method=pcap"}
	}
	onBothDaemonsWith(t, extra, func(t *testing.T, name, ng string) {
		dir := dirs[name]
		t0 := time.Now()
		callID := "rec/1@" + name // escaped in the file names
		a, b := newBlockParty(t, "ta", 0x1111), newBlockParty(t, "tb", 0x2222)

		recordings := func(r ngproto.Dict) []string {
			t.Helper()
			if r.Str("result") != "ok" {
				t.Fatalf("reply %v", r)
			}
			var out []string
			if l, ok := r["recordings"].([]any); ok {
				for _, x := range l {
					s, _ := x.(string)
					out = append(out, s)
				}
			}
			return out
		}
		// One round: each phone sends voice, an event and RTCP, and the
		// other receives them.
		round := func() {
			t.Helper()
			a.send(t)
			b.send(t)
			for i, got := range receivedBy(t, a, b) {
				if got[blkVoice] != 1 || got[blkDTMF] != 1 || got[blkRTCP] != 1 {
					t.Fatalf("phone %d received %v", i, got)
				}
			}
		}
		var sdps []string // what the daemon sent, in order
		signal := func(extra kv) []string {
			t.Helper()
			r := ngDo(t, ng, offer(callID, a.tag, a.sdp(1), extra))
			recs := recordings(r)
			sdps = append(sdps, r.Str("sdp"))
			b.learn(t, r.Str("sdp"))
			r = ngDo(t, ng, answer(callID, a.tag, b.tag, b.sdp(2), nil))
			if got := recordings(r); !slices.Equal(got, recs) {
				t.Errorf("answer's recordings %q, offer's %q", got, recs)
			}
			sdps = append(sdps, r.Str("sdp"))
			a.learn(t, r.Str("sdp"))
			return recs
		}

		recs := signal(kv{"record call": "yes", "label": "caller", "metadata": "m=1"})
		if len(recs) != 1 {
			t.Fatalf("recordings %q, want one file", recs)
		}
		first := recs[0]
		pat := regexp.MustCompile(`^` + regexp.QuoteMeta(dir+"/pcaps/rec%2F1%40"+name+"-") + `[0-9a-f]{16}\.pcap$`)
		if !pat.MatchString(first) {
			t.Fatalf("recording %q is not %s", first, pat)
		}
		round()
		signal(nil) // a re-INVITE: its SDPs are noted too
		round()
		if r := ngDo(t, ng, dict("stop recording", kv{"call-id": callID})); r.Str("result") != "ok" {
			t.Fatalf("stop recording: %v", r)
		}
		round() // not recorded
		r := ngDo(t, ng, dict("start recording", kv{"call-id": callID, "metadata": "m=2"}))
		if got := recordings(r); len(got) != 0 {
			t.Errorf("start recording's reply names %q", got)
		}
		round()
		ngDo(t, ng, del(callID, kv{"from-tag": a.tag, "delete-delay": 0}))
		t1 := time.Now()

		pcaps, _ := filepath.Glob(filepath.Join(dir, "pcaps", "*"))
		metas, _ := filepath.Glob(filepath.Join(dir, "metadata", "*"))
		tmps, _ := filepath.Glob(filepath.Join(dir, "tmp", "*"))
		if len(pcaps) != 2 || len(metas) != 2 || len(tmps) != 0 {
			t.Fatalf("spool holds pcaps %q, metadata %q, tmp %q; want two, two, none", pcaps, metas, tmps)
		}
		second := pcaps[0]
		if second == first {
			second = pcaps[1]
		}
		metaOf := func(pcap string) string {
			base := strings.TrimSuffix(filepath.Base(pcap), ".pcap")
			return filepath.Join(dir, "metadata", "rtpengine-meta-"+base+".txt")
		}
		for _, f := range []string{first, metaOf(first), metaOf(second)} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			want := os.FileMode(0o664) // metadata: rtpengine sets it
			if strings.HasSuffix(f, ".pcap") {
				want = 0o666 &^ umask()
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v, want %v", f, fi.Mode().Perm(), want)
			}
		}

		// The packets: rounds 1 and 2, then round 4.
		var want []string
		for _, seq := range []uint16{1, 3} {
			want = append(want, roundRecords(seq)...)
		}
		slices.Sort(want)
		checkPcap(t, first, want, []*blockParty{a, b}, t0)
		want = roundRecords(7)
		slices.Sort(want)
		checkPcap(t, second, want, []*blockParty{a, b}, t0)

		block := func(label string, answer bool, num int, sdp string) string {
			s := ""
			if label != "" {
				s = "\nLabel: " + label
			}
			mode := "offer"
			if answer {
				mode = "answer"
			}
			return s + "\nTimestamp started ms: T\nSDP mode: " + mode + "\nSDP before RTP packet: " + strconv.Itoa(num) + "\n\n" + sdp
		}
		end := "\nTimestamp terminated ms(first monologue): %s\n\ncall start time: D\ncall end time: D\n\n\n%s\n"
		wantMeta := first + "\n\n" +
			block("caller", false, 1, sdps[0]) + block("", true, 1, sdps[1]) +
			block("caller", false, 7, sdps[2]) + block("", true, 7, sdps[3]) +
			fmt.Sprintf(end, "0.000", "m=1")
		if got := readMeta(t, metaOf(first), t0, t1); got != wantMeta {
			t.Errorf("first recording's metadata:\n%s\nwant:\n%s", got, wantMeta)
		}
		wantMeta = second + "\n\n" + fmt.Sprintf(end, "T", "m=2")
		if got := readMeta(t, metaOf(second), t0, t1); got != wantMeta {
			t.Errorf("second recording's metadata:\n%s\nwant:\n%s", got, wantMeta)
		}
	})
}

// roundRecords names the packets of one round (blockParty.send) whose
// first RTP sequence number is seq: sender, socket, kind and sequence
// number, as checkPcap names what it reads.
func roundRecords(seq uint16) []string {
	var out []string
	for _, tag := range []string{"ta", "tb"} {
		out = append(out,
			fmt.Sprintf("%s/rtp %s %d", tag, blkVoice, seq),
			fmt.Sprintf("%s/rtp %s %d", tag, blkDTMF, seq+1),
			fmt.Sprintf("%s/rtcp %s", tag, blkRTCP))
	}
	return out
}

// checkPcap reads a raw-IP pcap file of the parties' packets and
// compares what it holds, in any order, with want. Each packet must go
// from a phone's socket to the daemon's socket it sent to.
func checkPcap(t *testing.T, file string, want []string, parties []*blockParty, t0 time.Time) {
	t.Helper()
	names := map[netip.AddrPort]string{}
	dsts := map[netip.AddrPort]netip.AddrPort{} // a phone socket -> the daemon's it sends to
	for _, p := range parties {
		rtp, rtcp := p.rtp.LocalAddr().(*net.UDPAddr).AddrPort(), p.rtcp.LocalAddr().(*net.UDPAddr).AddrPort()
		names[rtp], names[rtcp] = p.tag+"/rtp", p.tag+"/rtcp"
		dsts[rtp], dsts[rtcp] = p.to, p.toRTCP
	}
	var got []string
	forEachRecord(t, file, t0, func(src, dst netip.AddrPort, pkt []byte) {
		name, ok := names[src]
		if !ok || dsts[src] != dst {
			t.Errorf("%s: packet %v -> %v, not from a phone to the daemon's socket for it", file, src, dst)
		}
		kind := blockKind(pkt)
		if kind == blkRTCP {
			got = append(got, name+" "+kind)
		} else {
			got = append(got, fmt.Sprintf("%s %s %d", name, kind, binary.BigEndian.Uint16(pkt[2:])))
		}
	})
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds\n%s\nwant\n%s", file, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var (
	metaStamp = regexp.MustCompile(`(Timestamp [^:\n]*ms[^:\n]*): ([0-9]+\.[0-9]{3})`)
	metaTime  = regexp.MustCompile(`(call (start|end) time): ([0-9T:-]+)`)
)

// readMeta returns a metadata file with its timestamps, which must lie
// within [t0, t1], as T (milliseconds) and D (local dates).
func readMeta(t *testing.T, file string, t0, t1 time.Time) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := metaStamp.ReplaceAllStringFunc(string(b), func(m string) string {
		sub := metaStamp.FindStringSubmatch(m)
		if sub[2] == "0.000" {
			return m
		}
		ms, _ := strconv.ParseFloat(sub[2], 64)
		at := time.UnixMicro(int64(ms * 1000))
		if at.Before(t0.Add(-time.Millisecond)) || at.After(t1) {
			t.Errorf("%s: %s is not within the test (%v to %v)", file, m, t0, t1)
		}
		return sub[1] + ": T"
	})
	return metaTime.ReplaceAllStringFunc(s, func(m string) string {
		sub := metaTime.FindStringSubmatch(m)
		at, err := time.ParseInLocation("2006-01-02T15:04:05", sub[3], time.Local)
		if err != nil || at.Before(t0.Truncate(time.Second)) || at.After(t1) {
			t.Errorf("%s: %s is not a local time within the test (%v to %v)", file, m, t0, t1)
		}
		return sub[1] + ": D"
	})
}

// umask is this process's file mode creation mask, which the daemons
// inherit.
func umask() os.FileMode {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Umask:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return os.FileMode(n)
		}
	}
	return 0o022
}

// TestCallRecordingSRTP records a call between a plain-RTP phone and an
// SDES phone on both daemons: the recording holds what each phone meant
// to send, the SRTP phone's packets decrypted, as rtpengine writes them.
func TestCallRecordingSRTP(t *testing.T) {
	dirs := map[string]string{"mediad": t.TempDir(), "rtpengine": t.TempDir()}
	extra := func(name string) []string {
		return []string{"--recording-dir=" + dirs[name]}
	}
	onBothDaemonsWith(t, extra, func(t *testing.T, name, ng string) {
		t0 := time.Now()
		callID := "rec-srtp-" + name
		a, b := newBlockParty(t, "ta", 0x1111), newBlockParty(t, "tb", 0x2222)
		r := ngDo(t, ng, offer(callID, a.tag, a.sdp(1), kv{"transport-protocol": "RTP/SAVP", "record call": "yes"}))
		toB := r.Str("sdp")
		b.learn(t, toB)
		// b takes the daemon's AES_CM_128_HMAC_SHA1_80 line and answers
		// with a key of its own.
		m := regexp.MustCompile(`a=crypto:([0-9]+) AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/=]+)`).FindStringSubmatch(toB)
		if m == nil {
			t.Fatalf("no AES_CM_128_HMAC_SHA1_80 offered to the SDES phone:\n%s", toB)
		}
		key := make([]byte, 30)
		for i := range key {
			key[i] = byte(i*7 + 1)
		}
		ans := strings.Replace(b.sdp(2), "RTP/AVP", "RTP/SAVP", 1) +
			"a=crypto:" + m[1] + " AES_CM_128_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(key) + "\r\n"
		r = ngDo(t, ng, answer(callID, a.tag, b.tag, ans, nil))
		a.learn(t, r.Str("sdp"))
		enc, err := srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
		if err != nil {
			t.Fatal(err)
		}

		var sent [][]byte
		for i := range 3 {
			plain := make([]byte, 12, 12+160)
			plain[0], plain[1] = 0x80, 0
			binary.BigEndian.PutUint16(plain[2:], uint16(100+i))
			binary.BigEndian.PutUint32(plain[4:], uint32(i)*160)
			binary.BigEndian.PutUint32(plain[8:], b.ssrc)
			plain = append(plain, bytes.Repeat([]byte{0x55 + byte(i)}, 160)...)
			cipher, err := enc.EncryptRTP(nil, plain, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.rtp.WriteToUDPAddrPort(cipher, b.to); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, plain)
			time.Sleep(20 * time.Millisecond)
		}
		got := 0
		eachDatagram(a.rtp, 250*time.Millisecond, func(p []byte) {
			if slices.ContainsFunc(sent, func(s []byte) bool { return bytes.Equal(s, p) }) {
				got++
			}
		})
		if got != len(sent) {
			t.Fatalf("the plain phone received %d of the SDES phone's %d packets decrypted", got, len(sent))
		}
		ngDo(t, ng, del(callID, kv{"from-tag": a.tag, "delete-delay": 0}))

		pcaps, _ := filepath.Glob(filepath.Join(dirs[name], "pcaps", "*.pcap"))
		if len(pcaps) != 1 {
			t.Fatalf("recordings %q, want one", pcaps)
		}
		var recorded [][]byte
		forEachRecord(t, pcaps[0], t0, func(src, _ netip.AddrPort, pkt []byte) {
			if src != b.rtp.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Errorf("a packet from %v", src)
			}
			recorded = append(recorded, slices.Clone(pkt))
		})
		if !slices.EqualFunc(recorded, sent, bytes.Equal) {
			t.Errorf("recorded %d packets, want the %d the SDES phone sent, decrypted:\n% x", len(recorded), len(sent), recorded)
		}
	})
}

// forEachRecord reads a raw-IP pcap file and calls fn with each packet,
// its source and its destination. Each record must carry rtpengine's headers: IPv4 without
// ID, flags or checksum, TTL 64, and UDP without checksum; its time is
// after t0 and not in the future.
func forEachRecord(t *testing.T, file string, t0 time.Time, fn func(src, dst netip.AddrPort, pkt []byte)) {
	t.Helper()
	d, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) < 24 || binary.LittleEndian.Uint32(d) != 0xa1b2c3d4 || binary.LittleEndian.Uint16(d[4:]) != 2 ||
		binary.LittleEndian.Uint16(d[6:]) != 4 || binary.LittleEndian.Uint32(d[16:]) != 65535 || binary.LittleEndian.Uint32(d[20:]) != 101 {
		t.Fatalf("%s: pcap header % x", file, d[:min(len(d), 24)])
	}
	t1 := time.Now()
	for off := 24; off < len(d); {
		if off+16 > len(d) {
			t.Fatalf("%s: truncated record at %d", file, off)
		}
		sec, usec := binary.LittleEndian.Uint32(d[off:]), binary.LittleEndian.Uint32(d[off+4:])
		n, orig := int(binary.LittleEndian.Uint32(d[off+8:])), binary.LittleEndian.Uint32(d[off+12:])
		rec := d[off+16 : min(off+16+n, len(d))]
		off += 16 + n
		at := time.Unix(int64(sec), int64(usec)*1000)
		if len(rec) != n || int(orig) != n || n < 28 || at.Before(t0.Truncate(time.Millisecond)) || at.After(t1) {
			t.Fatalf("%s: record of %d/%d bytes at %v (test ran %v to %v)", file, n, orig, at, t0, t1)
		}
		ip, udp, pkt := rec[:20], rec[20:28], rec[28:]
		hdr := []byte{0x45, 0, byte(n >> 8), byte(n), 0, 0, 0, 0, 64, 17, 0, 0}
		if string(ip[:12]) != string(hdr) || binary.BigEndian.Uint16(udp[4:]) != uint16(8+len(pkt)) || udp[6] != 0 || udp[7] != 0 {
			t.Errorf("%s: headers % x | % x", file, ip, udp)
		}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp))
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(udp[2:]))
		fn(src, dst, pkt)
	}
}

// TestCallRecordingForwarding follows rtpengine 10.5's pcap method
// through start forwarding and stop forwarding, which stream a call to
// rtpengine's recording daemon under its proc method: forwarding the call
// or one party records the call, stop recording leaves a recording that
// forwarding still asks for, and stopping the last forwarding ends it.
func TestCallRecordingForwarding(t *testing.T) {
	dirs := map[string]string{"mediad": t.TempDir(), "rtpengine": t.TempDir()}
	extra := func(name string) []string { return []string{"--recording-dir=" + dirs[name]} }
	onBothDaemonsWith(t, extra, func(t *testing.T, name, ng string) {
		dir := dirs[name]
		callID := "fwd-" + name
		newBlockCall(t, ng, callID, nil)
		count := func(sub string) int {
			t.Helper()
			m, _ := filepath.Glob(filepath.Join(dir, sub, "*"))
			return len(m)
		}
		for _, st := range []struct {
			cmd                 string
			extra               kv
			pcaps, done, active int // files in pcaps/, metadata/ and tmp/ after it
		}{
			{"start forwarding", nil, 1, 0, 1},
			{"stop forwarding", nil, 1, 1, 0},
			{"start forwarding", kv{"from-tag": "ta"}, 2, 1, 1},
			{"start recording", nil, 2, 1, 1},
			{"stop recording", nil, 2, 1, 1}, // ta's forwarding keeps it
			{"stop forwarding", kv{"from-tag": "ta"}, 2, 2, 0},
			{"start forwarding", kv{"from-tag": "tb"}, 3, 2, 1},
			{"stop forwarding", kv{"flags": []string{"all"}}, 3, 3, 0},
		} {
			r := ngDo(t, ng, dict(st.cmd, merge(kv{"call-id": callID}, st.extra)))
			if r.Result() != "ok" {
				t.Fatalf("%s %v: %v", st.cmd, st.extra, r)
			}
			if p, d, a := count("pcaps"), count("metadata"), count("tmp"); p != st.pcaps || d != st.done || a != st.active {
				t.Fatalf("after %s %v: %d pcaps, %d finished and %d open metadata files; want %d, %d, %d",
					st.cmd, st.extra, p, d, a, st.pcaps, st.done, st.active)
			}
		}
		ngDo(t, ng, del(callID, kv{"delete-delay": 0}))
	})
}
