// Command cgocheck is built and run by TestReleaseKeepsDynamicLinking: a cgo binary
// (dynamically linked: the dynamic loader relocated its GOT, then made it read-only) that
// releases its start-up pages and then calls libc and starts new OS threads, both of which
// go through the GOT. It prints "ok" and exits 0, or crashes.
package main

/*
#include <unistd.h>
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/sondehq/sonde/pipeline/procmem"
)

func main() {
	res, err := procmem.Release()
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(2)
	}
	// A goroutine that ends locked to its thread takes the thread with it, so each of
	// these needs a new one: pthread_create, through the GOT.
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			_ = C.getpid()
		}()
	}
	wg.Wait()
	if int(C.getpid()) != os.Getpid() {
		fmt.Fprintln(os.Stderr, "getpid through cgo disagrees")
		os.Exit(3)
	}
	fmt.Println("ok", res.Ranges)
}
