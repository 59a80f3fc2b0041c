// Package userfile checks a path read from outside — a setting (TEMPLATE, .env, DEFAULTS_FILE,
// ENV_VARS_FILE, LAYER_MAP, COMPOSE_FILE, CONFIG_DIR, CERT_DIR) or a template's property
// (CodeUri, a layer's ContentUri, a Dockerfile) — by its file type before anything opens it: a
// named pipe blocks its reader until a writer comes (every target, the dry run included, hung
// on one), a device never ends or reads as nothing, a socket cannot be read at all. It is the
// one place these checks live; it reads nothing but what its callers ask it to.
package userfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrSpecial marks a path that is neither a regular file nor a directory.
var ErrSpecial = errors.New("not a regular file or directory")

// Kind says in words what mode is, for a message: "a regular file", "a directory", "a named
// pipe (FIFO)", "a character device", …
func Kind(mode fs.FileMode) string {
	switch {
	case mode.IsRegular():
		return "a regular file"
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a block device"
	case mode&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "an irregular file"
}

// CheckInfo refuses what info (from os.Stat: links followed) says is neither a regular file nor
// a directory. what names who gave the path ("TEMPLATE", "CodeUri of function Hello").
func CheckInfo(what, path string, info fs.FileInfo) error {
	if info.Mode().IsRegular() || info.IsDir() {
		return nil
	}
	return fmt.Errorf("%s %s is %s, %w: point it at a file or directory", what, path, Kind(info.Mode()), ErrSpecial)
}

// Check is CheckInfo for a path: nil when it is a regular file or a directory, or when it does
// not exist (whether it must is the caller's rule).
func Check(what, path string) error {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	return CheckInfo(what, path, info)
}

// Open opens a regular file a user named for reading. Anything else is refused: checked before it
// is opened, then opened without blocking and checked again, so a pipe swapped in between cannot
// block either. A missing file is the os error (errors.Is fs.ErrNotExist).
func Open(what, path string) (*os.File, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := regular(what, path, info); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if info, err = f.Stat(); err != nil {
		f.Close()
		return nil, err
	}
	if err := regular(what, path, info); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ReadFile reads a regular file a user named (see Open).
func ReadFile(what, path string) ([]byte, error) {
	f, err := Open(what, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, path, err)
	}
	return data, nil
}

func regular(what, path string, info fs.FileInfo) error {
	if info.Mode().IsRegular() {
		return nil
	}
	if info.IsDir() {
		return fmt.Errorf("%s %s is a directory, not a file: point it at a file", what, path)
	}
	return fmt.Errorf("%s %s is %s, %w: point it at a regular file", what, path, Kind(info.Mode()), ErrSpecial)
}
