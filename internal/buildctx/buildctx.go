// Package buildctx assembles the bundle's docker build context. Plan lists every entry (pure: no
// file is read); Write streams them as a tar straight into the build, so the context is never
// copied to disk — the images archive alone can be gigabytes.
//
// It owns the context's layout (the files dind/Dockerfile copies: /app, /certs, the entrypoint)
// except the images directory, whose entries package bundleimage makes, and the bundle's .env
// (BundleDotEnv, with the generated keys it keeps); package bundleimage puts the whole context
// together (PlanContext). It must not read the layer store nor talk to the engine.
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

	"github.com/dindbundler/dindbundler/internal/confine"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/tarball"
	"github.com/dindbundler/dindbundler/internal/userfile"
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
	// Addressed: Src is named by the digest of its content (a layer store file), so its name
	// stands for its content in the Fingerprint and it is never read for it.
	Addressed bool
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

// Write streams entries as a tar to w. Timestamps are tarball's fixed one, so equal inputs give
// an equal context (the classic builder's COPY cache then holds).
func Write(w io.Writer, entries []Entry) error {
	tw := tarball.NewWriter(w)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Name, Mode: int64(e.Mode.Perm()), Uid: e.UID, Gid: e.GID, Format: tar.FormatPAX}
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

// Fingerprint identifies a context: names, modes, owners, and each source file's content hash
// (generated data by its hash, layer store files by their content-addressed name). A file is read
// only when its stat signature differs from the one recorded (git's index rule), so a renewed
// certificate of the same size copied with cp -p is seen without reading every file every run.
// It returns the records to keep for the next call.
func Fingerprint(entries []Entry, recorded map[string]fresh.FileRecord) (string, map[string]fresh.FileRecord, error) {
	h := sha256.New()
	records := map[string]fresh.FileRecord{}
	for _, e := range entries {
		fmt.Fprintf(h, "%s %o %d:%d dir=%t ", e.Name, e.Mode.Perm(), e.UID, e.GID, e.Dir)
		switch {
		case e.Dir:
		case e.Src == "":
			sum := sha256.Sum256(e.Data)
			fmt.Fprintf(h, "data %x", sum)
		case e.Addressed:
			fmt.Fprintf(h, "addressed %s", e.Src)
		default:
			info, err := os.Stat(e.Src)
			if err != nil {
				return "", nil, fmt.Errorf("fingerprint build context %s: %w", e.Name, err)
			}
			var prev *fresh.FileRecord
			if r, ok := recorded[e.Src]; ok {
				prev = &r
			}
			rec, _, err := fresh.Record(e.Src, info, prev)
			if err != nil {
				return "", nil, fmt.Errorf("fingerprint build context %s: %w", e.Name, err)
			}
			records[e.Src] = rec
			fmt.Fprintf(h, "file %s", rec.SHA256)
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)), records, nil
}

// Tree lists a directory's files and sub-directories as entries under prefix, keeping their
// permission bits, owned by uid:gid. The directory and every symbolic link under it are followed
// — a linked directory is bundled with its content — and must resolve inside root, or the listing
// is refused naming the link and the root; a dangling link or a loop is refused too. Nothing is
// ever left out silently.
func Tree(dir, root, prefix string, uid, gid int) ([]Entry, error) {
	entries := []Entry{{Name: prefix, Dir: true, Mode: 0o755, UID: uid, GID: gid}}
	open := map[string]bool{} // directories being listed, to refuse a loop
	var walk func(p, name string) error
	walk = func(p, name string) error {
		real, err := confine.Path(root, "config file", p)
		if err != nil {
			return err
		}
		info, err := os.Stat(real)
		if err != nil {
			return err
		}
		switch {
		case info.Mode().IsRegular():
			entries = append(entries, Entry{Name: name, Src: real, Mode: info.Mode().Perm(), UID: uid, GID: gid})
			return nil
		case !info.IsDir():
			// Sockets, pipes and devices have no place in an image: refused, never left out
			// silently.
			return userfile.CheckInfo("config file", p, info)
		case open[real]:
			return fmt.Errorf("%s leads back into %s (a loop): remove the link", p, real)
		}
		if name != prefix {
			entries = append(entries, Entry{Name: name, Dir: true, Mode: info.Mode().Perm(), UID: uid, GID: gid})
		}
		open[real] = true
		defer delete(open, real)
		children, err := os.ReadDir(real)
		if err != nil {
			return err
		}
		for _, c := range children {
			if err := walk(filepath.Join(p, c.Name()), path.Join(name, c.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(dir, prefix); err != nil {
		return nil, fmt.Errorf("list %s for the build context: %w", dir, err)
	}
	return entries, nil
}
