// Package sysload samples the machine's load average and CPU usage for
// rtpengine's --max-load and --max-cpu, as rtpengine's load thread does:
// /proc/loadavg's 1-minute average and the share of busy time in
// /proc/stat's first line between two samples, every half second.
package sysload

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Every is rtpengine's sampling interval.
const Every = 500 * time.Millisecond

// Sampler holds the last samples; its getters are safe for concurrent
// use.
type Sampler struct {
	proc string // "/proc", or a directory holding loadavg and stat (tests)

	load, cpu  atomic.Uint64 // float64 bits
	used, idle uint64        // the previous /proc/stat reading; Run's only
}

// New returns a sampler reading proc ("" is /proc).
func New(proc string) *Sampler {
	if proc == "" {
		proc = "/proc"
	}
	return &Sampler{proc: proc}
}

// LoadAvg is the last 1-minute load average read.
func (s *Sampler) LoadAvg() float64 { return math.Float64frombits(s.load.Load()) }

// CPUUsage is the machine's CPU usage in percent between the last two
// samples (0 before the second).
func (s *Sampler) CPUUsage() float64 { return math.Float64frombits(s.cpu.Load()) }

// Run samples now and every Every until ctx ends. A failure goes to warn
// when it differs from the previous sample's, so a lasting one is told
// once, not twice a second.
func (s *Sampler) Run(ctx context.Context, warn func(error)) {
	t := time.NewTicker(Every)
	defer t.Stop()
	last := ""
	for {
		err := s.Sample()
		msg := ""
		if err != nil {
			msg = err.Error()
			if msg != last && warn != nil {
				warn(err)
			}
		}
		last = msg
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sample reads both files once.
func (s *Sampler) Sample() error {
	b, err := os.ReadFile(filepath.Join(s.proc, "loadavg"))
	if err != nil {
		return fmt.Errorf("load average: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return fmt.Errorf("load average: empty %s", filepath.Join(s.proc, "loadavg"))
	}
	l, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return fmt.Errorf("load average: %w", err)
	}
	s.load.Store(math.Float64bits(l))

	used, idle, err := s.cpuTimes()
	if err != nil {
		return fmt.Errorf("CPU usage: %w", err)
	}
	// As rtpengine: busy is user + nice + system; the first sample only
	// sets the baseline, and counters that did not move keep the figure.
	if s.used != 0 || s.idle != 0 {
		du, di := used-min(used, s.used), idle-min(idle, s.idle)
		if du+di > 0 {
			s.cpu.Store(math.Float64bits(float64(du) * 100 / float64(du+di)))
		}
	}
	s.used, s.idle = used, idle
	return nil
}

// cpuTimes reads user+nice+system and idle from the "cpu" line.
func (s *Sampler) cpuTimes() (used, idle uint64, err error) {
	fh, err := os.Open(filepath.Join(s.proc, "stat"))
	if err != nil {
		return 0, 0, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	if !sc.Scan() {
		return 0, 0, fmt.Errorf("%s: empty", fh.Name())
	}
	f := bytes.Fields(sc.Bytes())
	if len(f) < 5 || string(f[0]) != "cpu" {
		return 0, 0, fmt.Errorf("%s: no cpu line", fh.Name())
	}
	var v [4]uint64
	for i := range v {
		if v[i], err = strconv.ParseUint(string(f[i+1]), 10, 64); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", fh.Name(), err)
		}
	}
	return v[0] + v[1] + v[2], v[3], nil
}
