// Package e2e holds cross-component tests: mediad against rtpengine, sipproxy
// with sipp, Kamailio and a real browser.
package e2e
