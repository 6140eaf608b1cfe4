package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMENamesEveryFlag keeps sipproxy/README.md's flag table whole:
// every flag --help prints must appear there (the SRC-DST matrix keys as
// their pattern).
func TestREADMENamesEveryFlag(t *testing.T) {
	var help bytes.Buffer
	if _, err := Parse([]string{"--help"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(help.String(), -1)
	if len(names) < 20 {
		t.Fatalf("found only %d flags in --help:\n%s", len(names), help.String())
	}
	matrix := regexp.MustCompile(`^rtpengine-(offer|answer)-(udp|ws)-(udp|ws)$`)
	for _, m := range names {
		name := m[1]
		if matrix.MatchString(name) {
			name = "rtpengine-" + matrix.FindStringSubmatch(name)[1] + "-SRC-DST"
		}
		if !strings.Contains(string(readme), "`--"+name+"`") && !strings.Contains(string(readme), "`--"+name+"=") {
			t.Errorf("sipproxy/README.md does not name --%s", name)
		}
	}
}
