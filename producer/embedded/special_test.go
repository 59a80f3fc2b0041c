package embedded

import (
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"
)

// TestWriteContextRefusesANamedPipeDockerignore: a build context whose .dockerignore is a named
// pipe is refused naming it; writing the context waited for a writer forever.
func TestWriteContextRefusesANamedPipeDockerignore(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM scratch\n", "main.go": "package main\n"})
	is.NoErr(syscall.Mkfifo(filepath.Join(dir, ".dockerignore"), 0o644))
	done := make(chan error, 1)
	go func() {
		done <- writeContext(io.Discard, ImageBuild{Dockerfile: "Dockerfile", Context: []ContextEntry{{Kind: EntryDir, Source: dir, DockerIgnore: true}}}, "")
	}()
	select {
	case err := <-done:
		is.True(err != nil)
		is.True(strings.Contains(err.Error(), filepath.Join(dir, ".dockerignore")+" is a named pipe (FIFO)"))
	case <-time.After(10 * time.Second):
		t.Fatal("blocked on the named pipe")
	}
}
