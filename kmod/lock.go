package kmod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockDir holds the instance locks. A lock is an flock on a file named for
// the network namespace, family and table, so it dies with its process
// (kill -9 included) and two live daemons never replace each other's table.
// google/nftables v0.3.0 cannot set the table owner flag, which would do the
// same in the kernel.
const lockDir = "/run/lock"

// instanceLock takes the lock for this configuration, or returns ErrBusy.
// Where no lock file can be created the daemon runs unlocked (returns nil).
func instanceLock(cfg Config) (*os.File, error) {
	var st unix.Stat_t
	var err error
	if cfg.NetNS != 0 {
		err = unix.Fstat(cfg.NetNS, &st)
	} else {
		err = unix.Stat("/proc/thread-self/ns/net", &st)
	}
	if err != nil {
		return nil, nil
	}
	name := filepath.Join(lockDir, fmt.Sprintf("mediad-kmod-%d-%s-%d.lock", st.Ino, cfg.Family, cfg.Table))
	for range 3 {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, nil
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%w: %s", ErrBusy, name)
			}
			return nil, nil
		}
		// The owner unlinks the file on release; if that happened between
		// our open and flock, we hold a dead inode: retry.
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(name, &now) == nil && held.Ino == now.Ino {
			return f, nil
		}
		f.Close()
	}
	return nil, nil
}

// releaseLock removes the lock file and drops the lock.
func releaseLock(f *os.File) {
	os.Remove(f.Name())
	f.Close()
}
