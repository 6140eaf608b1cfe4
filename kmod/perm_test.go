package kmod

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const permEnv = "KMOD_PERM_HELPER"

// TestPermHelper runs inside R without CAP_NET_ADMIN (see TestNoPermission)
// and reports what Open returned.
func TestPermHelper(t *testing.T) {
	if os.Getenv(permEnv) == "" {
		t.Skip("helper process for TestNoPermission only")
	}
	_, err := Open(context.Background(), Config{Table: 2, PortMin: testPortMin, PortMax: testPortMax})
	switch {
	case errors.Is(err, ErrPermission):
		os.Stdout.WriteString("RESULT permission: " + err.Error() + "\n")
	case err == nil:
		os.Stdout.WriteString("RESULT opened\n")
	default:
		os.Stdout.WriteString("RESULT other: " + err.Error() + "\n")
	}
}

// Without CAP_NET_ADMIN Open fails with ErrPermission, so the daemon can log
// one line and fall back.
func TestNoPermission(t *testing.T) {
	topo := newTopo(t)
	for _, tool := range []string{"ip", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	cmd := exec.Command("ip", "netns", "exec", topo.Name("r"),
		"setpriv", "--bounding-set=-net_admin", "--inh-caps=-all",
		os.Args[0], "-test.run=^TestPermHelper$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), permEnv+"=1")
	out, _ := cmd.CombinedOutput()
	t.Logf("%s", grepLine(string(out), "RESULT"))
	if !strings.Contains(string(out), "RESULT permission:") {
		t.Fatalf("Open without CAP_NET_ADMIN: want ErrPermission, got:\n%s", out)
	}
	if tableExists(t, topo, 2) {
		t.Fatal("a table was created without permission")
	}
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
