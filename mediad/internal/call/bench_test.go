package call

import (
	"strconv"
	"testing"
)

// BenchmarkOfferAnswerDelete measures one signalling cycle through the
// registry (real port allocation on loopback, no NG codec).
func BenchmarkOfferAnswerDelete(b *testing.B) {
	r, _ := newRegB(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := strconv.Itoa(i)
		if _, err := r.Offer(&Params{CallID: id, FromTag: "a", SDP: offerSDP}); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Answer(&Params{CallID: id, FromTag: "a", ToTag: "b", SDP: answerSDP}); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Delete(DeleteParams{CallID: id, FromTag: "a"}); err != nil {
			b.Fatal(err)
		}
	}
}
