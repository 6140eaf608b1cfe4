package kmod

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/nftables"
)

// Purge removes what an earlier instance with this configuration left
// behind (its table, which keeps forwarding after a crash) without opening
// an Offloader: for a daemon started with the kernel path disabled after one
// that used it crashed. Only Table, Family, NetNS and Log are used. It fails
// with ErrBusy while a live Offloader owns the table.
func Purge(ctx context.Context, cfg Config) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if cfg.Family == 0 {
		cfg.Family = IPv4
	}
	if cfg.Table < 0 || cfg.Table > 127 || (cfg.Family != IPv4 && cfg.Family != IPv6) {
		return fmt.Errorf("kmod: purge: bad table %d or family %d", cfg.Table, cfg.Family)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lock, err := instanceLock(cfg)
	if err != nil {
		return err
	}
	if lock != nil {
		defer releaseLock(lock)
	}
	spec := specFor(cfg.Family)
	name := TableName(cfg.Table)
	var errs []error

	nft, err := nftables.New(nftables.WithNetNSFd(cfg.NetNS))
	if err != nil {
		return classify("kmod: purge: nftables netlink", err)
	}
	if _, err := nft.ListTableOfFamily(name, spec.table); err == nil {
		nft.DelTable(&nftables.Table{Name: name, Family: spec.table})
		if err := nft.Flush(); err != nil {
			errs = append(errs, classify("kmod: purge: delete table "+name, err))
		} else {
			log.Info("removed stale kernel fast path table", "table", name, "family", cfg.Family.String())
		}
	}

	return errors.Join(errs...)
}
