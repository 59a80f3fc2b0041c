package bundlefile

import (
	"archive/tar"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"
)

// TestReadingANamedPipeIsRefused: EXPORT_AGAINST or INSPECT_BUNDLE naming a named pipe is refused
// naming it; reading it waited for a writer forever.
func TestReadingANamedPipeIsRefused(t *testing.T) {
	is := is.New(t)
	fifo := filepath.Join(t.TempDir(), "previous.tar.gz")
	is.NoErr(syscall.Mkfifo(fifo, 0o644))
	done := make(chan error, 2)
	go func() { _, err := ReadMeta(fifo); done <- err }()
	go func() { done <- Entries(fifo, func(*tar.Header, io.Reader) error { return nil }) }()
	for range 2 {
		select {
		case err := <-done:
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), fifo+" is a named pipe (FIFO)"))
			is.True(!errors.Is(err, io.EOF))
		case <-time.After(10 * time.Second):
			t.Fatal("blocked on the named pipe")
		}
	}
}
