// Package atomicfile writes outputs the way docker/cli does: into a temporary file in the
// destination's directory, renamed into place only once complete, so an interrupted stage never
// leaves an output that looks finished (and therefore fresh). It owns that write protocol
// (Commit/Abort) and knows nothing of what it writes.
package atomicfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File is an output being written. Commit renames it into place; Abort (safe to defer, and a
// no-op after Commit) removes it.
type File struct {
	*os.File
	dest string
	done bool
}

// Create starts writing dest, creating its directory.
func Create(dest string, perm os.FileMode) (*File, error) {
	dir := filepath.Dir(dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create directory %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", dest, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("create %s: %w", dest, err)
	}
	return &File{File: tmp, dest: dest}, nil
}

// Commit flushes, closes and renames the file into place.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("commit %s: already finished", f.dest)
	}
	f.done = true
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		os.Remove(f.File.Name())
		return fmt.Errorf("write %s: %w", f.dest, err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(f.File.Name())
		return fmt.Errorf("write %s: %w", f.dest, err)
	}
	if err := os.Rename(f.File.Name(), f.dest); err != nil {
		os.Remove(f.File.Name())
		return fmt.Errorf("write %s: %w", f.dest, err)
	}
	return nil
}

// Abort discards the file unless it was committed.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.File.Name())
}

// Write stores data at dest atomically.
func Write(dest string, data []byte, perm os.FileMode) error {
	f, err := Create(dest, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.File.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", dest, err)
	}
	return f.Commit()
}

// WriteJSON stores v as indented JSON at dest atomically.
func WriteJSON(dest string, v any, perm os.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", dest, err)
	}
	return Write(dest, append(data, '\n'), perm)
}

// IsTemp reports whether name is one of Create's temporary files: ".<name>.tmp-<digits>".
func IsTemp(name string) bool {
	i := strings.LastIndex(name, ".tmp-")
	if !strings.HasPrefix(name, ".") || i < 2 || i+len(".tmp-") == len(name) {
		return false
	}
	for _, r := range name[i+len(".tmp-"):] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Sweep removes the temporary files of writes that never finished (a run killed part-way) from
// every directory under dir; it returns how many files and bytes it removed. The caller must
// know that no write is in progress there (BUILD_DIR's lock).
func Sweep(dir string) (removed int, freed int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() && IsTemp(d.Name()) {
			info, ierr := d.Info()
			if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				return fmt.Errorf("remove the unfinished file %s: %w", p, rerr)
			}
			removed++
			if ierr == nil {
				freed += info.Size()
			}
		}
		return nil
	})
	return removed, freed, err
}
