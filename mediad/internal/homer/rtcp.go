package homer

import (
	"strconv"

	"sipmedia/mediad/internal/rtcp"
)

// RTCPJSON renders a compound RTCP packet as the JSON rtpengine 10.5
// sends to Homer (rtcp.c's homer_* handlers, byte for byte: its spacing,
// its order, and what it sends of a packet it stops parsing). ok=false:
// nothing worth sending (rtpengine sends nothing either).
func RTCPJSON(pkt []byte) (js []byte, ok bool) {
	j := &jsonVisitor{b: make([]byte, 0, 256)}
	j.b = append(j.b, "{ "...)
	rtcp.Walk(pkt, j)
	return finish(j.b)
}

// jsonVisitor renders the walk as rtpengine's homer handlers.
type jsonVisitor struct {
	rtcp.Nop
	b []byte
}

// nums appends each key (with its JSON punctuation) followed by its
// value.
func (j *jsonVisitor) nums(keys []string, vals ...uint32) {
	for i, k := range keys {
		j.b = append(j.b, k...)
		j.b = strconv.AppendUint(j.b, uint64(vals[i]), 10)
	}
}

// The keys as rtpengine's homer handlers write them, spacing included.
var (
	srKeys   = []string{`"sender_information":{"ntp_timestamp_sec":`, `,"ntp_timestamp_usec":`, `,"octets":`, `,"rtp_timestamp":`, `, "packets":`}
	listKeys = []string{`"ssrc":`, `,"type":`, `,"report_count":`}
	rrKeys   = []string{`{"source_ssrc":`, `,"highest_seq_no":`, `,"fraction_lost":`, `,"ia_jitter":`, `,"packets_lost":`, `,"lsr":`, `,"dlsr":`}
	sdesKeys = []string{`{"sdes_chunk_ssrc":`, `,"type":`}
)

func (j *jsonVisitor) SR(s rtcp.SenderInfo) {
	j.nums(srKeys, s.NTPSec, s.NTPFrac, s.Octets, s.RTPTimestamp, s.Packets)
	j.b = append(j.b, `},`...)
}

func (j *jsonVisitor) RRListStart(h rtcp.Header) {
	j.nums(listKeys, h.SSRC, uint32(h.Type), uint32(h.Count))
	j.b = append(j.b, `,"report_blocks":[`...)
}

func (j *jsonVisitor) RR(rb rtcp.ReportBlock) {
	j.nums(rrKeys, rb.SSRC, rb.HighestSeq, uint32(rb.FractionLost), rb.Jitter, rb.PacketsLost, rb.LSR, rb.DLSR)
	j.b = append(j.b, `},`...)
}

func (j *jsonVisitor) RRListEnd() { j.b = append(sanitize(j.b), `],`...) }

func (j *jsonVisitor) SDESListStart(h rtcp.Header) {
	j.nums([]string{`"sdes_report_count":`}, uint32(h.Count))
	j.b = append(j.b, `,"sdes_information": [ `...)
}

func (j *jsonVisitor) SDESItem(chunkSSRC uint32, typ byte, text []byte) {
	j.nums(sdesKeys, chunkSSRC, uint32(typ))
	j.b = append(j.b, `,"text":"`...)
	j.b = appendText(j.b, text)
	j.b = append(j.b, `"},`...)
}

func (j *jsonVisitor) SDESListEnd() { j.b = append(sanitize(j.b), `],`...) }

// appendText escapes SDES text as rtpengine does: JSON escapes for quote,
// backslash and the usual controls, '_' for other bytes outside ' '..'~'.
func appendText(b, text []byte) []byte {
	for _, c := range text {
		switch c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			if c < ' ' || c > 126 {
				c = '_'
			}
			b = append(b, c)
		}
	}
	return b
}

// sanitize drops trailing blanks and commas (str_sanitize).
func sanitize(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == ',') {
		b = b[:len(b)-1]
	}
	return b
}

// finish closes the object; rtpengine sends it only if something went in.
func finish(b []byte) ([]byte, bool) {
	b = append(sanitize(b), " }"...)
	return b, len(b) > 4
}
