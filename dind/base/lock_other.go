//go:build !unix

package base

// lock is a no-op where flock does not exist; debootstrap only runs on Linux anyway.
func lock(string) (func(), error) { return func() {}, nil }
