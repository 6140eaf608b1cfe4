package main

import (
	"io"
	"log/slog"

	"sipmedia/sipproxy/internal/certs"
	"sipmedia/sipproxy/internal/config"
	"sipmedia/sipproxy/internal/demo"
)

// startDemo serves the demo softphone when --http-demo is set (nil, nil
// otherwise). It presents the certificate of the WSS listener (src, nil
// without tls or wss listeners), so a browser that accepts one accepts
// both, and a reloaded certificate on both.
// It returns the certificate source it uses.
func startDemo(cfg config.Config, src *certs.Source, log *slog.Logger) (io.Closer, *certs.Source, error) {
	if cfg.Demo.Addr == "" {
		return nil, nil, nil
	}
	hosts := append([]string(nil), cfg.Domains...)
	page := demo.Page{}
	for _, l := range cfg.Listen {
		hosts = append(hosts, l.IP)
		if l.Proto == "wss" && page.WS == "" {
			page.WS = "wss://" + l.Addr()
		}
	}
	page.Domain = hosts[0]
	if src == nil {
		var err error
		if src, err = certs.Load(cfg.TLSCertificate, cfg.TLSPrivateKey, hosts); err != nil {
			return nil, nil, err
		}
	}
	s, err := demo.Start(cfg.Demo, src.Config(), page, log)
	if err != nil {
		return nil, nil, err
	}
	log.Info("demo softphone", "url", "https://"+s.Addr()+"/", "ws", page.WS, "domain", page.Domain)
	return s, src, nil
}
