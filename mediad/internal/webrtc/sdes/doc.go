// Package sdes handles SDES-SRTP keying (RFC 4568): parsing and writing
// a=crypto values, the crypto suites mediad knows, offering keys and
// selecting a suite in an answer. It produces SRTP profiles and master keys;
// it never touches packets or other SDP attributes.
package sdes
