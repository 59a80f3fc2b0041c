//go:build !linux

package base

// unmountUnder has nothing to do where debootstrap cannot run.
func unmountUnder(string) error { return nil }
