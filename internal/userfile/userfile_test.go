package userfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"
)

// special makes a named pipe at dir/name (the case that hung every target).
func special(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadFileRefusesWhatIsNoRegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := special(t, dir, "pipe")
	is.New(t).NoErr(os.Symlink(fifo, filepath.Join(dir, "link-to-pipe")))
	is.New(t).NoErr(os.WriteFile(filepath.Join(dir, "file"), []byte("x=1\n"), 0o644))
	tests := []struct {
		name, path, want string
	}{
		{"a named pipe", fifo, "TEMPLATE " + fifo + " is a named pipe (FIFO), not a regular file or directory"},
		{"a link to a named pipe", filepath.Join(dir, "link-to-pipe"), "is a named pipe (FIFO)"},
		{"a character device", "/dev/zero", "TEMPLATE /dev/zero is a character device"},
		{"a directory", dir, "is a directory, not a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			done := make(chan error, 1)
			go func() { _, err := ReadFile("TEMPLATE", tt.path); done <- err }()
			select {
			case err := <-done:
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.want))
			case <-time.After(5 * time.Second):
				t.Fatal("ReadFile blocked")
			}
		})
	}
	data, err := ReadFile("TEMPLATE", filepath.Join(dir, "file"))
	is.New(t).NoErr(err)
	is.New(t).Equal(string(data), "x=1\n")
	_, err = ReadFile("TEMPLATE", filepath.Join(dir, "missing"))
	is.New(t).True(errors.Is(err, fs.ErrNotExist))
}

func TestCheck(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	fifo := special(t, dir, "pipe")
	err := Check("CodeUri of function Hello", fifo)
	is.True(errors.Is(err, ErrSpecial))
	is.True(strings.Contains(err.Error(), "CodeUri of function Hello "+fifo+" is a named pipe (FIFO)"))
	is.NoErr(Check("x", dir))
	is.NoErr(Check("x", filepath.Join(dir, "missing"))) // whether it must exist is the caller's rule
	is.True(errors.Is(Check("x", "/dev/null"), ErrSpecial))
}
