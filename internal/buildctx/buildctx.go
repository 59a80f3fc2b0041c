// Package buildctx assembles the bundle's docker build context. Plan lists every entry (pure: no
// file is read); Write streams them as a tar straight into the build, so the context is never
// copied to disk — the images archive alone can be gigabytes. It owns the context's layout (app/,
// certs/, images/, the runtime files); it must not talk to the engine: the Image stage sends the
// stream.
package buildctx

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Entry is one file or directory of the context.
type Entry struct {
	Name string      // slash path inside the context
	Src  string      // file on disk; empty when Data holds the content or Dir is set
	Data []byte      // generated content
	Dir  bool        // a directory entry
	Mode fs.FileMode // permission bits
	UID  int
	GID  int
}

// Stat reads what an entry's header needs (size, and whether the source is still there).
func (e Entry) size() (int64, error) {
	if e.Src == "" {
		return int64(len(e.Data)), nil
	}
	info, err := os.Stat(e.Src)
	if err != nil {
		return 0, err
	}
	if !info.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", e.Src)
	}
	return info.Size(), nil
}

// Sort orders entries so directories come before their contents and the tar is reproducible.
func Sort(entries []Entry) {
	sort.SliceStable(entries, func(a, b int) bool { return entries[a].Name < entries[b].Name })
}

// Write streams entries as a tar to w. Timestamps are fixed so equal inputs give an equal
// context (the classic builder's COPY cache then holds).
func Write(w io.Writer, entries []Entry) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Name, Mode: int64(e.Mode.Perm()), Uid: e.UID, Gid: e.GID, ModTime: epoch, Format: tar.FormatPAX}
		if e.Dir {
			hdr.Typeflag = tar.TypeDir
			hdr.Name = strings.TrimSuffix(e.Name, "/") + "/"
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("build context %s: %w", e.Name, err)
			}
			continue
		}
		size, err := e.size()
		if err != nil {
			return fmt.Errorf("build context %s: %w", e.Name, err)
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, size
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("build context %s: %w", e.Name, err)
		}
		if e.Src == "" {
			if _, err := tw.Write(e.Data); err != nil {
				return fmt.Errorf("build context %s: %w", e.Name, err)
			}
			continue
		}
		if err := copyFile(tw, e.Src, size); err != nil {
			return fmt.Errorf("build context %s: %w", e.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	return nil
}

func copyFile(w io.Writer, src string, size int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.CopyN(w, f, size)
	if err != nil {
		return fmt.Errorf("%s changed while the context was written (%d of %d bytes): %w", src, n, size, err)
	}
	return nil
}

// Fingerprint identifies a context without reading file contents: names, modes, owners, and each
// source file's size and modification time (generated data by its hash). Equal fingerprints mean
// an equal context.
func Fingerprint(entries []Entry) (string, error) {
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%s %o %d:%d dir=%t ", e.Name, e.Mode.Perm(), e.UID, e.GID, e.Dir)
		switch {
		case e.Dir:
		case e.Src == "":
			sum := sha256.Sum256(e.Data)
			fmt.Fprintf(h, "data %x", sum)
		default:
			info, err := os.Stat(e.Src)
			if err != nil {
				return "", fmt.Errorf("fingerprint build context %s: %w", e.Name, err)
			}
			fmt.Fprintf(h, "file %s %d %d", e.Src, info.Size(), info.ModTime().UnixNano())
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Tree lists a directory's files and sub-directories as entries under prefix, keeping their
// permission bits, owned by uid:gid. Symlinks to regular files are followed.
func Tree(dir, prefix string, uid, gid int) ([]Entry, error) {
	entries := []Entry{{Name: prefix, Dir: true, Mode: 0o755, UID: uid, GID: gid}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		name := path.Join(prefix, filepath.ToSlash(rel))
		info, err := os.Stat(p) // follows symlinks
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			entries = append(entries, Entry{Name: name, Dir: true, Mode: info.Mode().Perm(), UID: uid, GID: gid})
		case info.Mode().IsRegular():
			entries = append(entries, Entry{Name: name, Src: p, Mode: info.Mode().Perm(), UID: uid, GID: gid})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s for the build context: %w", dir, err)
	}
	return entries, nil
}
