package homer

import (
	"encoding/binary"
	"strconv"
)

// RTCP packet types rtpengine parses (daemon/rtcp.c).
const (
	ptSR   = 200
	ptRR   = 201
	ptSDES = 202
	ptBYE  = 203
	ptAPP  = 204
	ptRTPF = 205
	ptPSFB = 206
	ptXR   = 207
)

// minSize is rtpengine's min_packet_sizes: shorter packets of these
// types end the parse.
var minSize = map[byte]int{ptSR: 28, ptRR: 8, ptSDES: 4, ptBYE: 4, ptAPP: 12, ptRTPF: 12, ptPSFB: 12, ptXR: 8}

// RTCPJSON renders a compound RTCP packet as the JSON rtpengine 10.5
// sends to Homer (rtcp.c's homer_* handlers, byte for byte: its spacing,
// its order, and what it sends of a packet it stops parsing). ok=false:
// nothing worth sending (rtpengine sends nothing either).
func RTCPJSON(pkt []byte) (js []byte, ok bool) {
	b := make([]byte, 0, 256)
	b = append(b, "{ "...)
	var ssrc uint32 // the last packet's sender SSRC (scratch_common)
	s := pkt
	for len(s) >= 4 {
		n := (int(binary.BigEndian.Uint16(s[2:4])) + 1) * 4
		if n > len(s) {
			break
		}
		el := s[:n]
		if el[0]>>6 != 2 {
			break // unknown version: rtpengine's error path, what is built so far goes out
		}
		pt, count := el[1], int(el[0]&0x1f)
		if m, known := minSize[pt]; known && n < m {
			break
		}
		switch pt {
		case ptSR, ptRR:
			if n < count*24 {
				return finish(b) // rtcp_Xr's check: an error
			}
			ssrc = binary.BigEndian.Uint32(el[4:8])
			// rtpengine reads the blocks the count names from its struct,
			// past the element's end if the count says so (within the
			// datagram here).
			blocks := s[8:]
			if pt == ptSR {
				sr := el[8:28]
				b = append(b, `"sender_information":{"ntp_timestamp_sec":`...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(sr[0:4])), 10)
				b = append(b, `,"ntp_timestamp_usec":`...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(sr[4:8])), 10)
				b = append(b, `,"octets":`...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(sr[16:20])), 10)
				b = append(b, `,"rtp_timestamp":`...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(sr[8:12])), 10)
				b = append(b, `, "packets":`...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(sr[12:16])), 10)
				b = append(b, `},`...)
				blocks = s[28:]
			}
			b = append(b, `"ssrc":`...)
			b = strconv.AppendUint(b, uint64(ssrc), 10)
			b = append(b, `,"type":`...)
			b = strconv.AppendUint(b, uint64(pt), 10)
			b = append(b, `,"report_count":`...)
			b = strconv.AppendUint(b, uint64(count), 10)
			b = append(b, `,"report_blocks":[`...)
			for i := 0; i < count; i++ {
				if len(blocks) < 24*(i+1) {
					break
				}
				rb := blocks[24*i : 24*(i+1)]
				b = append(b, `{"source_ssrc":`...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(rb[0:4])), 10)
				b = append(b, `,"highest_seq_no":`...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(rb[8:12])), 10)
				b = append(b, `,"fraction_lost":`...)
				b = strconv.AppendUint(b, uint64(rb[4]), 10)
				b = append(b, `,"ia_jitter":`...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(rb[12:16])), 10)
				b = append(b, `,"packets_lost":`...)
				b = strconv.AppendUint(b, uint64(rb[5])<<16|uint64(rb[6])<<8|uint64(rb[7]), 10)
				b = append(b, `,"lsr":`...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(rb[16:20])), 10)
				b = append(b, `,"dlsr":`...)
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(rb[20:24])), 10)
				b = append(b, `},`...)
			}
			b = append(sanitize(b), `],`...)
		case ptSDES:
			b = appendSDES(b, el, count)
		}
		s = s[n:]
	}
	return finish(b)
}

// appendSDES renders an SDES packet's chunks and items as rtcp_sdes walks
// them.
func appendSDES(b, el []byte, count int) []byte {
	b = append(b, `"sdes_report_count":`...)
	b = strconv.AppendUint(b, uint64(count), 10)
	b = append(b, `,"sdes_information": [ `...)
	c := el[4:]
	for i := 0; ; {
		if len(c) < 4 {
			break
		}
		chunkSSRC := binary.BigEndian.Uint32(c[:4])
		c = c[4:]
		for len(c) > 0 {
			typ := c[0]
			c = c[1:]
			if typ == 0 || len(c) < 1 {
				break
			}
			n := int(c[0])
			c = c[1:]
			if len(c) < n {
				break
			}
			b = append(b, `{"sdes_chunk_ssrc":`...)
			b = strconv.AppendUint(b, uint64(chunkSSRC), 10)
			b = append(b, `,"type":`...)
			b = strconv.AppendUint(b, uint64(typ), 10)
			b = append(b, `,"text":"`...)
			b = appendText(b, c[:n])
			b = append(b, `"},`...)
			c = c[n:]
		}
		for len(c)%4 != 0 {
			c = c[1:]
		}
		if i++; i >= count {
			break
		}
	}
	return append(sanitize(b), `],`...)
}

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
