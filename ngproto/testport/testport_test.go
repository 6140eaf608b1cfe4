package testport

import "testing"

func TestFreeNeverRepeatsNorNeighbours(t *testing.T) {
	seen := map[int]bool{}
	for range 300 {
		p, err := Free("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		for d := -portStride + 1; d < portStride; d++ {
			if seen[p+d] {
				t.Fatalf("port %d handed out within %d of an earlier one", p, portStride)
			}
		}
		seen[p] = true
		if !bindable("127.0.0.1", p) {
			t.Fatalf("port %d not bindable", p)
		}
	}
}
