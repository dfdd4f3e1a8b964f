// Command pause is the sandbox ("pause") image of the test node: it holds a pod's namespaces,
// reaps the zombies of processes that end up as its children (it is PID 1 in a shared PID
// namespace), and exits on SIGTERM or SIGINT. Built static (CGO_ENABLED=0) and put on scratch
// by testdata/node/image.sh as sonde.test/pause:dev, containerd's sandbox_image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
