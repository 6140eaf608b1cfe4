// Package ngproto implements rtpengine's NG control protocol: the
// cookie-framed bencode/JSON codec, lenient typed access to requests,
// the OpenSIPS/Kamailio flag-string parser, a client with retries and
// several backends, and the server framing with its reply cache.
package ngproto
