// Package media is sipproxy's media step: the seed's rtpengine_offer,
// rtpengine_answer and rtpengine_delete, plus rtpengine_manage's late-SDP
// handling (offer in the reply, answer in the ACK, tags swapped), as NG
// requests to a pool of mediad/rtpengine daemons (ngproto.Pool). Driver
// implements router.Media.
//
// It owns the tag orientation the rtpengine modules use, the choice of a
// flag string from the SRC_WS x DST_WS matrix (package mediacfg), and a
// small per-call memory of who called whom over which kind of transport,
// so that re-INVITEs and the late ACK (where the script has no SRC_WS)
// get the flags of their direction. It does not route SIP (package
// router) nor speak the NG wire (package ngproto).
package media
