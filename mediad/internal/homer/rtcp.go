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

func (j *jsonVisitor) SR(s rtcp.SenderInfo) {
	j.b = append(j.b, `"sender_information":{"ntp_timestamp_sec":`...)
	j.b = strconv.AppendUint(j.b, uint64(s.NTPSec), 10)
	j.b = append(j.b, `,"ntp_timestamp_usec":`...)
	j.b = strconv.AppendUint(j.b, uint64(s.NTPFrac), 10)
	j.b = append(j.b, `,"octets":`...)
	j.b = strconv.AppendUint(j.b, uint64(s.Octets), 10)
	j.b = append(j.b, `,"rtp_timestamp":`...)
	j.b = strconv.AppendUint(j.b, uint64(s.RTPTimestamp), 10)
	j.b = append(j.b, `, "packets":`...)
	j.b = strconv.AppendUint(j.b, uint64(s.Packets), 10)
	j.b = append(j.b, `},`...)
}

func (j *jsonVisitor) RRListStart(h rtcp.Header) {
	j.b = append(j.b, `"ssrc":`...)
	j.b = strconv.AppendUint(j.b, uint64(h.SSRC), 10)
	j.b = append(j.b, `,"type":`...)
	j.b = strconv.AppendUint(j.b, uint64(h.Type), 10)
	j.b = append(j.b, `,"report_count":`...)
	j.b = strconv.AppendUint(j.b, uint64(h.Count), 10)
	j.b = append(j.b, `,"report_blocks":[`...)
}

func (j *jsonVisitor) RR(rb rtcp.ReportBlock) {
	j.b = append(j.b, `{"source_ssrc":`...)
	j.b = strconv.AppendUint(j.b, uint64(rb.SSRC), 10)
	j.b = append(j.b, `,"highest_seq_no":`...)
	j.b = strconv.AppendUint(j.b, uint64(rb.HighestSeq), 10)
	j.b = append(j.b, `,"fraction_lost":`...)
	j.b = strconv.AppendUint(j.b, uint64(rb.FractionLost), 10)
	j.b = append(j.b, `,"ia_jitter":`...)
	j.b = strconv.AppendUint(j.b, uint64(rb.Jitter), 10)
	j.b = append(j.b, `,"packets_lost":`...)
	j.b = strconv.AppendUint(j.b, uint64(rb.PacketsLost), 10)
	j.b = append(j.b, `,"lsr":`...)
	j.b = strconv.AppendUint(j.b, uint64(rb.LSR), 10)
	j.b = append(j.b, `,"dlsr":`...)
	j.b = strconv.AppendUint(j.b, uint64(rb.DLSR), 10)
	j.b = append(j.b, `},`...)
}

func (j *jsonVisitor) RRListEnd() { j.b = append(sanitize(j.b), `],`...) }

func (j *jsonVisitor) SDESListStart(h rtcp.Header) {
	j.b = append(j.b, `"sdes_report_count":`...)
	j.b = strconv.AppendUint(j.b, uint64(h.Count), 10)
	j.b = append(j.b, `,"sdes_information": [ `...)
}

func (j *jsonVisitor) SDESItem(chunkSSRC uint32, typ byte, text []byte) {
	j.b = append(j.b, `{"sdes_chunk_ssrc":`...)
	j.b = strconv.AppendUint(j.b, uint64(chunkSSRC), 10)
	j.b = append(j.b, `,"type":`...)
	j.b = strconv.AppendUint(j.b, uint64(typ), 10)
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
