package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is Linux's USER_HZ, the unit of /proc/*/stat times.
const clockTick = 10 * time.Millisecond

// statTimes parses utime+stime and the process group from a
// /proc/PID/stat line. Fields are counted after the command name, which
// is in parentheses and may contain blanks.
func statTimes(b []byte) (cpu time.Duration, pgrp int, ok bool) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
	if len(f) < 13 {
		return 0, 0, false
	}
	pgrp, _ = strconv.Atoi(f[2])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * clockTick, pgrp, true
}

// ProcCPU is the user+system CPU time of pid, all threads.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	cpu, _, ok := statTimes(b)
	if !ok {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	return cpu, nil
}

// GroupCPU is the user+system CPU time of every process in process group
// pgid (a daemon started by Start leads its own group, so Kamailio's
// workers count with it).
func GroupCPU(pgid int) time.Duration {
	ents, _ := filepath.Glob("/proc/[0-9]*/stat")
	var total time.Duration
	for _, f := range ents {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if cpu, g, ok := statTimes(b); ok && g == pgid {
			total += cpu
		}
	}
	return total
}

// MachineCPU is the CPU time every processor has spent busy since boot
// (/proc/stat: all but idle and iowait), the whole machine's cost of a
// benchmark step, load generators and kernel included.
func MachineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * clockTick
}

// UDPDrops is the machine's count of UDP datagrams dropped because a
// socket's receive buffer was full (/proc/net/snmp, Udp RcvbufErrors;
// this network namespace only): a benchmark step that drops any lost
// them in a proxy, a media daemon or the load generator itself.
func UDPDrops() int64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "Udp: ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}
