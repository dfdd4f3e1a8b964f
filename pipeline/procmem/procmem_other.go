//go:build !linux

package procmem

import "errors"

// Release is only implemented on Linux.
func Release() (Result, error) { return Result{}, errors.ErrUnsupported }
