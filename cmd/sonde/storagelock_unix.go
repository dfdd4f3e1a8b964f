//go:build unix

package main

import (
	"errors"
	"os"
	"syscall"
)

func flock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

func isLocked(err error) bool { return errors.Is(err, syscall.EWOULDBLOCK) }
