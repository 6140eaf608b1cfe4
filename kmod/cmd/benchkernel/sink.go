package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// The endpoints count what arrives for them in their own namespace, at
// the device's netdev ingress hook, and drop it there: no IP receive path,
// no socket, no reader, so receiving costs next to nothing and loss is
// exactly sent - counted. "good" is media from the expected source (R's
// address on that link, or the other endpoint in direct mode); anything
// else to the media port is "bad" (misrouted).
const sinkTable = "benchsink"

// installSink adds the counting chain on dev in namespace nsName.
func installSink(nsName, dev string, from netip.Addr) error {
	table := sinkTable + "_" + dev
	rules := fmt.Sprintf(`table netdev %[1]s {
	counter good {}
	counter bad {}
	chain in {
		type filter hook ingress device "%[2]s" priority 0; policy accept;
		ip saddr %[3]s udp dport %[4]d counter name "good" drop
		udp dport %[4]d counter name "bad" drop
	}
}
`, table, dev, from, peerPort)
	cmd := exec.Command("ip", "netns", "exec", nsName, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft sink in %s: %w: %s", nsName, err, out)
	}
	return nil
}

// readSink returns the good and bad packet counts of dev's sink in nsName.
func readSink(nsName, dev string) (good, bad uint64, err error) {
	out, err := exec.Command("ip", "netns", "exec", nsName, "nft", "-j", "list", "counters", "table", "netdev", sinkTable+"_"+dev).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("read sink counters in %s: %w", nsName, err)
	}
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Name    string `json:"name"`
				Packets uint64 `json:"packets"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return 0, 0, fmt.Errorf("sink counters in %s: %w", nsName, err)
	}
	seen := 0
	for _, o := range doc.Nftables {
		if o.Counter == nil {
			continue
		}
		switch o.Counter.Name {
		case "good":
			good, seen = o.Counter.Packets, seen+1
		case "bad":
			bad, seen = o.Counter.Packets, seen+1
		}
	}
	if seen != 2 {
		return 0, 0, fmt.Errorf("sink counters in %s: not found in %s", nsName, out)
	}
	return good, bad, nil
}
