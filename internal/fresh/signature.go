package fresh

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
)

// Signature is what git's index records of a file to tell, without reading it, that it did not
// change: its size, modification and change times and its inode. A file restored with an older
// modification time (cp -p, rsync -t, tar, a checkout of an older commit) keeps its mtime but not
// its ctime or inode, so the signature still differs.
type Signature struct {
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"` // nanoseconds since the epoch
	Ctime int64  `json:"ctime"` // nanoseconds since the epoch
	Inode uint64 `json:"inode"`
	Dev   uint64 `json:"dev"`
}

// FileRecord is one input as recorded next to an output: its signature and its content's SHA-256.
type FileRecord struct {
	Sig    Signature `json:"sig"`
	SHA256 string    `json:"sha256"`
}

// SignatureOf reads the signature of info (from os.Stat or Lstat).
func SignatureOf(info fs.FileInfo) Signature {
	s := Signature{Size: info.Size(), Mtime: info.ModTime().UnixNano()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		s.Ctime = st.Ctim.Sec*1e9 + st.Ctim.Nsec
		s.Inode = st.Ino
		s.Dev = uint64(st.Dev) //nolint:unconvert // int32 on some platforms
	}
	return s
}

// HashFile is the SHA-256 of a file's content, in hex.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Record is the record of one file: the content hash is taken from prev when the signature is
// the one prev holds (git's index rule), else the file is read. changed reports a content that
// differs from prev's (always true without prev).
func Record(path string, info fs.FileInfo, prev *FileRecord) (rec FileRecord, changed bool, err error) {
	rec.Sig = SignatureOf(info)
	if prev != nil && prev.Sig == rec.Sig && prev.SHA256 != "" {
		rec.SHA256 = prev.SHA256
		return rec, false, nil
	}
	if rec.SHA256, err = HashFile(path); err != nil {
		return rec, false, err
	}
	return rec, prev == nil || prev.SHA256 != rec.SHA256, nil
}

// Snapshot records every file under inputs (files or directories, symbolic links followed),
// skipping paths under exclude, reusing the hashes of recorded files whose signature did not
// change. Changed names the first input (sorted) that was added, removed or whose content
// differs from recorded; "" when none did. A snapshot taken before a stage runs and written after
// it succeeds never hides a change made while it ran: that change has a later signature.
func Snapshot(inputs, exclude []string, recorded map[string]FileRecord) (records map[string]FileRecord, changed string, err error) {
	records = map[string]FileRecord{}
	var changes []string
	err = walkInputs(inputs, exclude, func(p string, info fs.FileInfo) error {
		if _, dup := records[p]; dup {
			return nil
		}
		var prev *FileRecord
		if r, ok := recorded[p]; ok {
			prev = &r
		}
		rec, diff, err := Record(p, info, prev)
		if err != nil {
			return err
		}
		records[p] = rec
		if diff {
			changes = append(changes, p)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("check inputs of the stage: %w", err)
	}
	for p := range recorded {
		if _, ok := records[p]; !ok {
			changes = append(changes, p+" (removed)")
		}
	}
	sort.Strings(changes)
	if len(changes) > 0 {
		changed = changes[0]
	}
	return records, changed, nil
}

// walkInputs calls fn for every regular file under inputs, following symbolic links (a link to
// a directory is walked once per resolved directory, so a loop ends) and skipping exclude.
func walkInputs(inputs, exclude []string, fn func(p string, info fs.FileInfo) error) error {
	// An output is excluded by what it resolves to as well: BUILD_DIR named through a link, or
	// reached through a linked directory, is still an output.
	for _, ex := range slices.Clone(exclude) {
		if real, err := filepath.EvalSymlinks(ex); err == nil && real != ex {
			exclude = append(exclude, real)
		}
	}
	skip := func(p string) bool {
		for _, ex := range exclude {
			if ex != "" && (p == ex || strings.HasPrefix(p, ex+string(filepath.Separator))) {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	var walk func(p string) error
	walk = func(p string) error {
		if skip(p) {
			return nil
		}
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !info.IsDir() {
			if info.Mode().IsRegular() {
				return fn(p, info)
			}
			return nil
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return err
		}
		if seen[real] || skip(real) {
			return nil
		}
		seen[real] = true
		entries, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := walk(filepath.Join(p, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	for _, in := range inputs {
		if err := walk(in); err != nil {
			return err
		}
	}
	return nil
}
