package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"sipmedia/mediad/internal/cli"
	"sipmedia/mediad/internal/config"
)

const ctlUsage = `
    mediad ctl [ -ip <ipaddress>[:<port>] -port <port> ] [ -config-file <file> ] <command>

    Sends one CLI command to mediad's (or rtpengine's) CLI port and prints
    the answer, like rtpengine-ctl. The address defaults to listen-cli from
    /etc/rtpengine/rtpengine.conf, else 127.0.0.1:9900.

    Commands: help, list <numsessions|sessions all|sessions <callid>|totals|
    counters|maxsessions|maxopenfiles|timeout|silenttimeout|offertimeout|
    finaltimeout|deletedelay|interfaces|loglevel|...>, get (alias of list),
    terminate <callid|all|own|foreign>, call <callid> info|terminate.

`

var portOnly = regexp.MustCompile(`^\d+$`)

// ctl implements `mediad ctl`, with rtpengine-ctl's options and address
// rules (options before the command; -opt and --opt; "=value" or a
// separate value).
func ctl(args []string, stdout, stderr io.Writer) int {
	ip, port, conf := "", 0, "/etc/rtpengine/rtpengine.conf"
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		if a == "--" {
			i++
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "help", "h":
			fmt.Fprint(stdout, ctlUsage)
			return 0
		case "ip", "port", "config-file":
		default:
			fmt.Fprintf(stderr, "Unknown option: %s\n", name)
			fmt.Fprint(stdout, ctlUsage)
			return 1
		}
		if !hasVal {
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "Option %s requires an argument\n", name)
				return 1
			}
			i++
			val = args[i]
		}
		switch name {
		case "ip":
			ip = val
		case "port":
			n, err := strconv.Atoi(val)
			if err != nil {
				fmt.Fprintf(stderr, "Value %q invalid for option port (number expected)\n", val)
				return 1
			}
			port = n
		case "config-file":
			conf = val
		}
	}
	// Explicit options win; the config file's listen-cli fills the rest
	// (rtpengine-ctl lets a port-only listen-cli override -ip's port).
	splitPort := func(s string) string {
		if host, p, err := net.SplitHostPort(s); err == nil {
			if n, err := strconv.Atoi(p); err == nil {
				if port == 0 {
					port = n
				}
				return host
			}
		}
		return s
	}
	ip = splitPort(ip)
	if listen, ok, err := config.FileValue(conf, config.DefaultSection, "listen-cli"); err == nil && ok {
		switch {
		case portOnly.MatchString(listen):
			if port == 0 {
				port, _ = strconv.Atoi(listen)
			}
		case ip == "":
			ip = splitPort(listen)
		}
	}
	if ip == "" {
		ip = "127.0.0.1"
	}
	if port == 0 {
		port = 9900
	}
	command := strings.TrimSpace(strings.Join(args[i:], " "))
	if command == "" || port <= 0 || port > 65535 {
		fmt.Fprint(stdout, ctlUsage)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := cli.Query(ctx, net.JoinHostPort(strings.Trim(ip, "[]"), strconv.Itoa(port)), command)
	fmt.Fprint(stdout, out)
	if err != nil {
		fmt.Fprintf(stderr, "Cannot connect to the rtpengine: %v\n", err)
		return 1
	}
	return 0
}
