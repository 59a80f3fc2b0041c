package source

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// CompileMage compiles this module's magefiles into the binary out (`go run magefile.go
// -compile out`), which then runs a target with the project directory as its working directory
// (what `-w DIR` does for `go run magefile.go`). mage writes magefiles/mage_output_file.go into
// the source tree while it compiles and removes it after, so two compiles at once — test packages
// that `go test ./...` runs in parallel — break each other: an exclusive flock on the magefiles
// directory, dropped by the kernel however the holder ends, lets one compile at a time.
func CompileMage(ctx context.Context, out string) error {
	root, err := Root()
	if err != nil {
		return err
	}
	unlock, err := LockMagefiles()
	if err != nil {
		return err
	}
	defer unlock()
	cmd := exec.CommandContext(ctx, "go", "run", "magefile.go", "-compile", out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("compile the magefiles (go run magefile.go -compile in %s; does the tree build?): %w\n%s", root, err, b)
	}
	return nil
}

// LockMagefiles waits for, then holds, the exclusive lock CompileMage takes; a test that must
// run the bootstrap itself (`go run magefile.go`, which compiles the same way when its cache
// misses) holds it meanwhile. unlock releases it.
func LockMagefiles() (unlock func(), err error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "magefiles")
	lock, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lock the magefiles: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		return nil, fmt.Errorf("lock the magefiles: flock %s: %w", dir, err)
	}
	return func() { lock.Close() }, nil // closing the descriptor drops the lock
}
