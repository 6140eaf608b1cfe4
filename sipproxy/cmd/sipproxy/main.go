// Command sipproxy is the SIP proxy and registrar (stub until its issue lands).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "sipproxy: not implemented yet")
	os.Exit(1)
}
