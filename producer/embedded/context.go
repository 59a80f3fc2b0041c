package embedded

import (
	"archive/tar"
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/dindbundler/dindbundler/internal/confine"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/dindbundler/dindbundler/internal/tarball"
	"github.com/dindbundler/dindbundler/internal/userfile"
)

// writeContext streams the build context of b to w as a tar: files are read from their sources
// as the tar is written, never staged in a temporary directory. Every directory source and every
// symbolic link followed must resolve inside root (the project root; "" allows any path).
func writeContext(w io.Writer, b ImageBuild, root string) error {
	if root == "" {
		root = string(filepath.Separator)
	}
	cw := &contextWriter{tw: tarball.NewWriter(w), dirs: map[string]bool{}, root: root, following: map[string]bool{}}
	if b.DockerfileText != "" {
		if err := cw.text(b.Dockerfile, b.DockerfileText); err != nil {
			return err
		}
	} else if b.DockerfileAppend != "" {
		if err := cw.appendDockerfile(b); err != nil {
			return err
		}
	}
	for _, e := range b.Context {
		var err error
		switch e.Kind {
		case EntryText:
			err = cw.text(e.Target, e.Text)
		case EntryFile:
			err = cw.file(e.Source, e.Target)
		case EntryDir:
			err = cw.dir(e, b.Dockerfile)
		case EntryZip:
			err = cw.zip(e.Source, e.Target)
		default:
			err = fmt.Errorf("unknown context entry kind %q", e.Kind)
		}
		if err != nil {
			return err
		}
	}
	return cw.tw.Close()
}

type contextWriter struct {
	tw   *tarball.Writer
	dirs map[string]bool // directories already in the tar
	root string          // nothing outside it is read
	// following holds the linked directories being copied, to refuse a link loop.
	following map[string]bool
	// replaced is a context path already written with new content (the user's Dockerfile with
	// DockerfileAppend), which the directory walk must not write again.
	replaced string
}

// appendDockerfile writes the user's Dockerfile (in the context's root directory) followed by
// b.DockerfileAppend: the image then carries what Lambda applies over it.
func (cw *contextWriter) appendDockerfile(b ImageBuild) error {
	var root string
	for _, e := range b.Context {
		if e.Kind == EntryDir && e.Target == "" {
			root = e.Source
		}
	}
	if root == "" {
		return fmt.Errorf("build %s: no context directory holds Dockerfile %s", b.Name, b.Dockerfile)
	}
	src, err := confine.Path(cw.root, b.Kind+" "+b.For+" Dockerfile", filepath.Join(root, filepath.FromSlash(b.Dockerfile)))
	if err != nil {
		return err
	}
	data, err := userfile.ReadFile("Dockerfile", src)
	if err != nil {
		return fmt.Errorf("read Dockerfile of %s %s: %w", b.Kind, b.For, err)
	}
	text := string(data)
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	cw.replaced = path.Clean(b.Dockerfile)
	return cw.text(cw.replaced, text+b.DockerfileAppend)
}

// mkdirs writes headers for name's parent directories not yet written, so every path in the
// context has its directory, even when an archive lists only files.
func (cw *contextWriter) mkdirs(name string, mtime time.Time) error {
	dir := path.Dir(name)
	if dir == "." || dir == "/" || cw.dirs[dir] {
		return nil
	}
	if err := cw.mkdirs(dir, mtime); err != nil {
		return err
	}
	return cw.dirHeader(dir, 0o755, mtime)
}

func (cw *contextWriter) dirHeader(name string, mode int64, mtime time.Time) error {
	if cw.dirs[name] {
		return nil
	}
	cw.dirs[name] = true
	return cw.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mtime})
}

// text adds a generated file (Dockerfile, inline code) with the fixed tarball.ModTime, so the
// same content gives the same image layer on every build.
func (cw *contextWriter) text(name, content string) error {
	if err := cw.mkdirs(name, tarball.ModTime); err != nil {
		return err
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: tarball.ModTime}
	if err := cw.tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := io.WriteString(cw.tw, content)
	return err
}

// file adds the file at src as name; a link is followed, inside the root, so the image holds the
// file rather than a link that would dangle there.
func (cw *contextWriter) file(src, name string) error {
	real, err := confine.Path(cw.root, "file", src)
	if err != nil {
		return fmt.Errorf("add %s to the build context: %w", src, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("add %s to the build context: %w", src, err)
	}
	return cw.fileInfo(real, name, fi)
}

func (cw *contextWriter) fileInfo(src, name string, fi fs.FileInfo) error {
	if err := cw.mkdirs(name, fi.ModTime()); err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		return cw.dirHeader(name, int64(fi.Mode().Perm()), fi.ModTime())
	case fi.Mode()&fs.ModeSymlink != 0:
		// Kept as a link, as `docker build` sends it.
		link, err := os.Readlink(src)
		if err != nil {
			return fmt.Errorf("add %s to the build context: %w", src, err)
		}
		return cw.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: link, Mode: 0o777, ModTime: fi.ModTime()})
	case !fi.Mode().IsRegular():
		return nil // sockets, devices and pipes have no place in an image
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("add %s to the build context: %w", src, err)
	}
	defer f.Close()
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime()}
	if err := cw.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.Copy(cw.tw, f); err != nil {
		return fmt.Errorf("add %s to the build context: %w", src, err)
	}
	return nil
}

// dir adds the contents of e.Source under e.Target, leaving out e.Exclude and, when asked, what
// the directory's .dockerignore names (never the Dockerfile or .dockerignore itself, which the
// builder needs; `docker build` keeps them the same way).
//
// A code or layer directory (no .dockerignore: a Lambda package, not a docker build context) has
// its symbolic links followed, inside the project root, so the image never holds a link that
// dangles; a docker build context keeps them as links, as `docker build` sends them. The
// directory itself may be a link (CodeUri pointing at a link to the code).
func (cw *contextWriter) dir(e ContextEntry, dockerfile string) error {
	src, err := confine.Path(cw.root, "build context", e.Source)
	if err != nil {
		return fmt.Errorf("add %s to the build context: %w", e.Source, err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("add %s to the build context: %w", e.Source, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("add %s to the build context: not a directory", e.Source)
	}
	exclude := append([]string{}, e.Exclude...)
	for _, x := range e.Exclude {
		if real, err := filepath.EvalSymlinks(x); err == nil && real != x {
			exclude = append(exclude, real)
		}
	}
	follow := !e.DockerIgnore
	var pm *patternmatcher.PatternMatcher
	if e.DockerIgnore {
		if pm, err = dockerIgnore(e.Source, dockerfile); err != nil {
			return err
		}
	}
	if e.Target != "" {
		if err := cw.mkdirs(e.Target, fi.ModTime()); err != nil {
			return err
		}
		if err := cw.dirHeader(e.Target, int64(fi.Mode().Perm()), fi.ModTime()); err != nil {
			return err
		}
	}
	parents := map[string]patternmatcher.MatchInfo{}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("add %s to the build context: %w", p, err)
		}
		if p == src {
			return nil
		}
		for _, x := range exclude {
			if p == x {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if excludedName(d.Name(), e.ExcludeNames) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if e.Target == "" && rel == cw.replaced && !d.IsDir() {
			return nil
		}
		if pm != nil {
			skip, info, err := pm.MatchesUsingParentResults(rel, parents[path.Dir(rel)])
			if err != nil {
				return fmt.Errorf("apply %s: %w", filepath.Join(e.Source, ".dockerignore"), err)
			}
			if d.IsDir() {
				parents[rel] = info
			}
			if skip {
				if d.IsDir() && !mayHoldExceptions(pm, rel) {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if follow && d.Type()&fs.ModeSymlink != 0 {
			return cw.followLink(p, contextJoin(e.Target, rel), e)
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("add %s to the build context: %w", p, err)
		}
		return cw.fileInfo(p, contextJoin(e.Target, rel), fi)
	})
}

// followLink adds what the link at p points to as name: a file's content, a directory's tree.
// A target outside the project root, a dangling link and a loop are refused.
func (cw *contextWriter) followLink(p, name string, from ContextEntry) error {
	real, err := confine.Path(cw.root, "symbolic link", p)
	if err != nil {
		return fmt.Errorf("add %s to the build context: %w", p, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("add %s to the build context: %w", p, err)
	}
	if !fi.IsDir() {
		return cw.fileInfo(real, name, fi)
	}
	if cw.following[real] {
		return fmt.Errorf("add %s to the build context: the link leads back into %s (a loop): remove the link", p, real)
	}
	cw.following[real] = true
	defer delete(cw.following, real)
	return cw.dir(ContextEntry{Kind: EntryDir, Source: real, Target: name, Exclude: from.Exclude, ExcludeNames: from.ExcludeNames}, "")
}

// excludedName reports whether a file or directory called name is left out by one of patterns
// (path.Match; a malformed pattern matches nothing).
func excludedName(name string, patterns []string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// mayHoldExceptions reports whether an excluded directory may still hold files an exception
// (!pattern) brings back, so the walk must enter it.
func mayHoldExceptions(pm *patternmatcher.PatternMatcher, dir string) bool {
	if !pm.Exclusions() {
		return false
	}
	for _, p := range pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+"/", dir+"/") {
			return true
		}
	}
	return false
}

// dockerIgnore reads dir/.dockerignore, if any.
func dockerIgnore(dir, dockerfile string) (*patternmatcher.PatternMatcher, error) {
	name := filepath.Join(dir, ".dockerignore")
	f, err := userfile.Open(".dockerignore", name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	patterns = append(patterns, "!.dockerignore")
	if dockerfile != "" {
		patterns = append(patterns, "!"+dockerfile)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return pm, nil
}

// MaxUnzippedSize is the most a .zip/.jar CodeUri or ContentUri may hold unzipped: Lambda's own
// limit (250 MB), which also keeps a zip bomb from filling the disk.
const MaxUnzippedSize = 250 << 20

// zip extracts the archive at src under target, as Lambda unpacks a deployment package.
func (cw *contextWriter) zip(src, target string) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return fmt.Errorf("extract %s: %w", src, err)
	}
	defer zr.Close()
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("extract %s: %w", src, err)
	}
	if target != "" {
		if err := cw.mkdirs(target, fi.ModTime()); err != nil {
			return err
		}
		if err := cw.dirHeader(target, 0o755, fi.ModTime()); err != nil {
			return err
		}
	}
	// Declared sizes bound what is extracted: archive/zip fails a member whose data runs past its
	// declared size, and so does the tar writer.
	var total uint64
	for _, zf := range zr.File {
		if total += zf.UncompressedSize64; total > MaxUnzippedSize || total < zf.UncompressedSize64 {
			return fmt.Errorf("extract %s: unzipped it holds more than %d MB (Lambda's limit for a deployment package or layer): shrink the archive, or point CodeUri/ContentUri at a directory", src, MaxUnzippedSize>>20)
		}
	}
	for _, zf := range zr.File {
		name, err := archiveMember(zf.Name)
		if err != nil {
			return fmt.Errorf("extract %s: %w", src, err)
		}
		if name == "" {
			continue
		}
		if err := cw.zipMember(zf, contextJoin(target, name)); err != nil {
			return fmt.Errorf("extract %s member %s: %w", src, zf.Name, err)
		}
	}
	return nil
}

func (cw *contextWriter) zipMember(zf *zip.File, name string) error {
	mode := zf.Mode()
	mtime := zf.Modified
	if mtime.IsZero() {
		mtime = tarball.ModTime
	}
	if err := cw.mkdirs(name, mtime); err != nil {
		return err
	}
	perm := int64(mode.Perm())
	switch {
	case mode.IsDir():
		if perm == 0 {
			perm = 0o755
		}
		return cw.dirHeader(name, perm, mtime)
	case mode&fs.ModeSymlink != 0:
		r, err := zf.Open()
		if err != nil {
			return err
		}
		defer r.Close()
		link, err := io.ReadAll(io.LimitReader(r, 4096))
		if err != nil {
			return err
		}
		return cw.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: string(link), Mode: 0o777, ModTime: mtime})
	case !mode.IsRegular():
		return nil
	}
	// Archives made on Windows carry no Unix permissions; Lambda makes such files readable.
	if perm == 0 {
		perm = 0o644
	}
	r, err := zf.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: perm, Size: int64(zf.UncompressedSize64), ModTime: mtime}
	if err := cw.tw.WriteHeader(hdr); err != nil {
		return err
	}
	// The archive's checksum is verified when its reader reaches the end.
	_, err = io.Copy(cw.tw, r)
	return err
}

// archiveMember cleans an archive member's name, refusing names that would land outside the
// extraction directory. Directory members come back without their trailing slash; the root
// itself comes back as "".
func archiveMember(name string) (string, error) {
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") {
		return "", fmt.Errorf("member %q has an absolute path", name)
	}
	clean := path.Clean(n)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("member %q points outside the archive", name)
	}
	if clean == "." {
		return "", nil
	}
	return clean, nil
}

func contextJoin(target, rel string) string {
	if target == "" {
		return rel
	}
	return path.Join(target, rel)
}
