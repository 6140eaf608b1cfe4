package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is Linux's USER_HZ for /proc/*/stat times.
const clockTick = 10 * time.Millisecond

// groupCPU is the user+system CPU time of every process in process group
// pgid (a daemon started by package daemon leads its own group, so
// Kamailio's workers count with it).
func groupCPU(pgid int) time.Duration {
	ents, _ := filepath.Glob("/proc/[0-9]*/stat")
	var total time.Duration
	for _, f := range ents {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		fs := strings.Fields(string(b[i+1:]))
		// fs[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
		if len(fs) < 13 {
			continue
		}
		if g, _ := strconv.Atoi(fs[2]); g != pgid {
			continue
		}
		u, _ := strconv.ParseInt(fs[11], 10, 64)
		s, _ := strconv.ParseInt(fs[12], 10, 64)
		total += time.Duration(u+s) * clockTick
	}
	return total
}
