package call

import (
	"testing"
	"time"
)

// TestMOSCalc checks mos_calc's figures against values rtpengine 10.5
// reported for the same reports (jitter ms, loss %, round trip µs).
func TestMOSCalc(t *testing.T) {
	for _, tc := range []struct {
		mode              string
		jitter, loss, rtt int64
		want              int64
	}{
		{MOSCQ, 20, 3, 200304, 37},
		{MOSCQ, 10, 9, 130243, 34},
		{MOSCQ, 10, 9, 0, 0}, // no round trip: no conversational MOS
		{MOSLQ, 10, 9, 0, 35},
		{MOSCQ, 0, 0, 1000, 44},
		{MOSCQ, 300, 90, 5000000, 10}, // r below 0
	} {
		b := mosBlock{jitter: tc.jitter, loss: tc.loss, rtt: tc.rtt}
		mosCalc(&b, tc.mode)
		if b.mos != tc.want {
			t.Errorf("%s jitter %d loss %d rtt %d: MOS %d, want %d", tc.mode, tc.jitter, tc.loss, tc.rtt, b.mos, tc.want)
		}
	}
}

// TestMOSProgression: about ten progression entries whatever the
// number of reports, lowest and highest by MOS, the average over the
// reports with a MOS.
func TestMOSProgression(t *testing.T) {
	m := &Monologue{}
	e := m.ssrcOf(7)
	t0 := time.Unix(1700000000, 0)
	for i := range 40 {
		mos := int64(30 + i%5)
		if i == 3 {
			mos = 0
		}
		b := mosBlock{mos: mos, jitter: 2, reported: t0.Add(time.Duration(i) * 5 * time.Second)}
		e.blocks = append(e.blocks, b)
		if mos == 0 {
			e.noMOS++
			continue
		}
		if e.lowest < 0 || mos < e.blocks[e.lowest].mos {
			e.lowest = i
		}
		if e.highest < 0 || mos > e.blocks[e.highest].mos {
			e.highest = i
		}
		e.sum.mos += mos
		e.sum.jitter += 2
	}
	c := &Call{}
	st := &CallStats{}
	c.ssrcStatsLocked(m, st)
	s, ok := st.SSRC[7]
	if !ok {
		t.Fatal("no entry")
	}
	if s.Interval != 19 || len(s.Progression) != 11 || s.Samples != 39 || s.Lowest.MOS != 30 || s.Highest.MOS != 34 ||
		s.Average.MOS != (e.sum.mos/39) || s.Average.Jitter != 2 {
		t.Errorf("%+v", s)
	}
}
