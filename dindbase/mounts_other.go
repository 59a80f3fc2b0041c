//go:build !linux

package dindbase

// unmountUnder has nothing to do where debootstrap cannot run.
func unmountUnder(string) error { return nil }
