package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ticks per second of /proc/stat and /proc/<pid>/stat (USER_HZ).
const userHZ = 100

func numCPU() int { return runtime.NumCPU() }

// cpuTimes is the machine-wide /proc/stat "cpu" line in ticks.
type cpuTimes struct{ busy, softirq, total uint64 }

func readCPU() (cpuTimes, error) { return readCPUOf("cpu") }

// readCPUOf reads one line of /proc/stat: "cpu" (all) or "cpuN".
func readCPUOf(name string) (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	var f []string
	for _, line := range strings.Split(string(b), "\n") {
		if f = strings.Fields(line); len(f) > 0 && f[0] == name {
			break
		}
		f = nil
	}
	if len(f) < 8 {
		return cpuTimes{}, fmt.Errorf("no %s line in /proc/stat", name)
	}
	var v []uint64
	for _, s := range f[1:] {
		n, _ := strconv.ParseUint(s, 10, 64)
		v = append(v, n)
	}
	var t cpuTimes
	for i, n := range v {
		if i >= 8 { // guest time is already in user
			break
		}
		t.total += n
	}
	idle := v[3] + v[4]
	t.busy = t.total - idle
	t.softirq = v[6]
	return t, nil
}

// procCPU returns utime+stime of a process in ticks.
func procCPU(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// after ")": state(0) ... utime is field 14 overall -> index 11 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return u + st, nil
}

// selfCPU returns this process's user+system CPU seconds.
func selfCPU() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// sumProcCPUErr sums utime+stime of processes, in ticks.
func sumProcCPUErr(pids []int) (uint64, error) {
	var s uint64
	for _, p := range pids {
		v, err := procCPU(p)
		if err != nil {
			return 0, err
		}
		s += v
	}
	return s, nil
}

// softnetDrops sums the per-CPU "dropped" column of /proc/net/softnet_stat:
// packets dropped because a CPU's input backlog was full (machine-wide).
func softnetDrops() uint64 {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0
	}
	var s uint64
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			v, _ := strconv.ParseUint(f[1], 16, 64)
			s += v
		}
	}
	return s
}

// ksoftirqdPids finds the per-CPU softirq threads: softirq work that is not
// done inline in a sender's (or the relay's) syscall is charged to them.
func ksoftirqdPids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err == nil && strings.HasPrefix(string(b), "ksoftirqd/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

func sumProcCPU(pids []int) uint64 {
	var s uint64
	for _, p := range pids {
		v, _ := procCPU(p)
		s += v
	}
	return s
}

// pinThread locks the calling goroutine to its OS thread and that thread
// to cpu. The goroutine must not unlock: the thread then ends with it
// instead of carrying the affinity back into the runtime's pool.
func pinThread(cpu int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}

// steerRx sets the RPS CPU mask (hex) of dev's receive queue in nsName.
func steerRx(nsName, dev, mask string) error {
	path := "/sys/class/net/" + dev + "/queues/rx-0/rps_cpus"
	out, err := exec.Command("ip", "netns", "exec", nsName, "sh", "-c", "echo "+mask+" > "+path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("rps on %s in %s: %w: %s", dev, nsName, err, out)
	}
	return nil
}
