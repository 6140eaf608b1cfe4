package main

import (
	"io"
	"log/slog"

	"sipmedia/sipproxy/internal/certs"
	"sipmedia/sipproxy/internal/config"
	"sipmedia/sipproxy/internal/demo"
)

// startDemo serves the demo softphone when --http-demo is set (nil, nil
// otherwise). It uses the TLS certificate files of the WSS listener, so a
// browser that accepts one accepts both; without files each listener
// generates its own self-signed certificate.
func startDemo(cfg config.Config, log *slog.Logger) (io.Closer, error) {
	if cfg.Demo.Addr == "" {
		return nil, nil
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
	tlsConf, err := certs.Load(cfg.TLSCertificate, cfg.TLSPrivateKey, hosts)
	if err != nil {
		return nil, err
	}
	s, err := demo.Start(cfg.Demo, tlsConf, page, log)
	if err != nil {
		return nil, err
	}
	log.Info("demo softphone", "url", "https://"+s.Addr()+"/", "ws", page.WS, "domain", page.Domain)
	return s, nil
}
