package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadStat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.csv")
	data := "StartTime;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);\n" +
		"x;1;5;0;0;\n" + "x;2;97;1;3;\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readStat(p)
	if err != nil || got != [2]int{97, 3} {
		t.Fatalf("readStat = %v, %v; want [97 3]", got, err)
	}
	if _, err := readStat(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}

// TestSmoke runs both setups at a low rate: every call must succeed and
// the summary must name both.
func TestSmoke(t *testing.T) {
	for _, bin := range []string{"sipp", "/usr/sbin/kamailio", "/usr/bin/rtpengine"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("skipping: %s not installed", bin)
		}
	}
	var out bytes.Buffer
	cfg := config{rates: []int{40}, duration: time.Second, hold: 50 * time.Millisecond, pairs: 2,
		setups: []string{"sipproxy+mediad", "kamailio+rtpengine"}, children: 2, stopAfter: 1}
	if err := run(t.Context(), cfg, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log(out.String())
	for _, want := range []string{"sipproxy+mediad                            40 calls/s", "kamailio+rtpengine                         40 calls/s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}
