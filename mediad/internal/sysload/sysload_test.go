package sysload

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, dir, load, stat string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "loadavg"), []byte(load), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSample(t *testing.T) {
	dir := t.TempDir()
	s := New(dir)
	write(t, dir, "1.50 0.80 0.40 2/300 1234\n", "cpu  100 0 100 800 5 0 0 0 0 0\ncpu0 50 0 50 400\n")
	if err := s.Sample(); err != nil {
		t.Fatal(err)
	}
	if s.LoadAvg() != 1.5 || s.CPUUsage() != 0 {
		t.Errorf("first sample: load %v cpu %v, want 1.5 and 0 (no baseline yet)", s.LoadAvg(), s.CPUUsage())
	}
	// 300 busy (user 200, nice 50, system 50) of 400: 75%.
	write(t, dir, "3.25 1 1 1/1 1\n", "cpu  300 50 150 900 0 0 0 0 0 0\n")
	if err := s.Sample(); err != nil {
		t.Fatal(err)
	}
	if s.LoadAvg() != 3.25 || s.CPUUsage() != 75 {
		t.Errorf("second sample: load %v cpu %v, want 3.25 and 75", s.LoadAvg(), s.CPUUsage())
	}
	// No time passed: the figure stays.
	if err := s.Sample(); err != nil || s.CPUUsage() != 75 {
		t.Errorf("unchanged counters: cpu %v, %v", s.CPUUsage(), err)
	}
}

func TestSampleErrors(t *testing.T) {
	for _, c := range []struct{ name, load, stat, want string }{
		{"empty loadavg", "", "cpu  1 2 3 4\n", "load average"},
		{"bad loadavg", "x 1 1\n", "cpu  1 2 3 4\n", "load average"},
		{"empty stat", "1 1 1\n", "", "empty"},
		{"no cpu line", "1 1 1\n", "intr 1 2 3 4\n", "no cpu line"},
		{"short cpu line", "1 1 1\n", "cpu  1 2\n", "no cpu line"},
		{"bad number", "1 1 1\n", "cpu  1 2 x 4\n", "invalid syntax"},
	} {
		dir := t.TempDir()
		write(t, dir, c.load, c.stat)
		if err := New(dir).Sample(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	if err := New(t.TempDir()).Sample(); err == nil {
		t.Error("missing files: no error")
	}
}

// TestRunOnThisMachine samples the real /proc.
func TestRunOnThisMachine(t *testing.T) {
	s := New("")
	ctx, cancel := context.WithTimeout(context.Background(), Every+300*time.Millisecond)
	defer cancel()
	var errs []error
	s.Run(ctx, func(err error) { errs = append(errs, err) })
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if l, c := s.LoadAvg(), s.CPUUsage(); l < 0 || c < 0 || c > 100 {
		t.Errorf("load %v, cpu %v%%", l, c)
	}
}

// TestRunWarnsOnce: a failure that lasts is told once.
func TestRunWarnsOnce(t *testing.T) {
	s := New(t.TempDir()) // no files
	ctx, cancel := context.WithTimeout(context.Background(), 3*Every+Every/2)
	defer cancel()
	n := 0
	s.Run(ctx, func(error) { n++ })
	if n != 1 {
		t.Errorf("%d warnings for one lasting failure, want 1", n)
	}
}
