package embedded

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/producer/builders"
)

// readTar lists a tar's entries: name → content ("<dir>" for directories, "-> target" for links).
func readTar(t *testing.T, data []byte) (map[string]string, map[string]int64) {
	t.Helper()
	files, modes := map[string]string{}, map[string]int64{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, modes
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := files[h.Name]; dup {
			t.Errorf("tar holds %s twice", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			files[h.Name] = "<dir>"
		case tar.TypeSymlink:
			files[h.Name] = "-> " + h.Linkname
		default:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = string(b)
		}
		modes[h.Name] = h.Mode
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func makeZip(t *testing.T, path string, members []string, contents map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		w, err := zw.Create(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, contents[m]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWriteContextFunction(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"code/app.py":           "print('hi')\n",
		"code/pkg/mod.py":       "x = 1\n",
		"code/out/env/manifest": "output of an earlier run",
		"layer/python/util.py":  "def f(): pass\n",
	})
	is.NoErr(os.Symlink("app.py", filepath.Join(dir, "code/link.py")))
	is.NoErr(os.Chmod(filepath.Join(dir, "code/app.py"), 0o755))
	makeZip(t, filepath.Join(dir, "code.jar"), []string{"META-INF/MANIFEST.MF", "example/a/b.txt", "top.txt"},
		map[string]string{"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n", "example/a/b.txt": "deep", "top.txt": "top"})

	b := ImageBuild{
		Dockerfile: "Dockerfile", DockerfileText: "FROM scratch\n",
		Context: []ContextEntry{
			{Kind: EntryDir, Source: filepath.Join(dir, "layer"), Target: "layers/1"},
			{Kind: EntryZip, Source: filepath.Join(dir, "code.jar"), Target: "layers/2"},
			{Kind: EntryDir, Source: filepath.Join(dir, "code"), Target: "task", Exclude: []string{filepath.Join(dir, "code/out")}},
			{Kind: EntryText, Target: "inline/index.py", Text: "def handler(e, c): return 1\n"},
		},
	}
	var buf bytes.Buffer
	is.NoErr(writeContext(&buf, b, ""))
	files, modes := readTar(t, buf.Bytes())
	is.Equal(slices.Sorted(maps.Keys(files)), []string{
		"Dockerfile",
		"inline/", "inline/index.py",
		"layers/", "layers/1/", "layers/1/python/", "layers/1/python/util.py",
		"layers/2/", "layers/2/META-INF/", "layers/2/META-INF/MANIFEST.MF",
		"layers/2/example/", "layers/2/example/a/", "layers/2/example/a/b.txt", "layers/2/top.txt",
		"task/", "task/app.py", "task/link.py", "task/pkg/", "task/pkg/mod.py",
	})
	is.Equal(files["Dockerfile"], "FROM scratch\n")
	is.Equal(files["task/app.py"], "print('hi')\n")
	is.Equal(modes["task/app.py"], int64(0o755))
	is.Equal(files["task/link.py"], "print('hi')\n") // a link in code is followed: never dangling in the image
	is.Equal(files["layers/2/example/a/b.txt"], "deep")
	is.Equal(files["layers/2/META-INF/MANIFEST.MF"], "Manifest-Version: 1.0\n")
	is.Equal(files["inline/index.py"], "def handler(e, c): return 1\n")
}

func TestWriteContextDockerIgnore(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		".dockerignore":          "# comment\nnode_modules\n*.log\ndocker/\n!docker/keep.txt\nDockerfile.dev\n",
		"Dockerfile.dev":         "FROM scratch\n",
		"main.go":                "package main\n",
		"debug.log":              "noise",
		"node_modules/x/i.js":    "junk",
		"docker/skip.txt":        "skip",
		"docker/keep.txt":        "keep",
		"src/nested/debug.log":   "kept: *.log only matches at the top, as in docker",
		"src/nested/handler.txt": "h",
	})
	b := ImageBuild{Dockerfile: "Dockerfile.dev", Context: []ContextEntry{{Kind: EntryDir, Source: dir, DockerIgnore: true}}}
	var buf bytes.Buffer
	is.NoErr(writeContext(&buf, b, ""))
	files, _ := readTar(t, buf.Bytes())
	is.Equal(slices.Sorted(maps.Keys(files)), []string{
		".dockerignore", "Dockerfile.dev", // always sent, like docker build does
		"docker/", "docker/keep.txt", // the exception reaches into an ignored directory
		"main.go",
		"src/", "src/nested/", "src/nested/debug.log", "src/nested/handler.txt",
	})
}

func TestWriteContextErrors(t *testing.T) {
	dir := t.TempDir()
	makeZip(t, filepath.Join(dir, "slip.zip"), []string{"../evil.txt"}, map[string]string{"../evil.txt": "x"})
	makeZip(t, filepath.Join(dir, "abs.zip"), []string{"/etc/passwd"}, map[string]string{"/etc/passwd": "x"})
	writeFiles(t, dir, map[string]string{"notzip.zip": "plain text", "file.txt": "x"})
	tests := []struct {
		name  string
		entry ContextEntry
		want  string
	}{
		{"zip slip", ContextEntry{Kind: EntryZip, Source: filepath.Join(dir, "slip.zip"), Target: "task"}, "points outside the archive"},
		{"absolute member", ContextEntry{Kind: EntryZip, Source: filepath.Join(dir, "abs.zip"), Target: "task"}, "absolute path"},
		{"not a zip", ContextEntry{Kind: EntryZip, Source: filepath.Join(dir, "notzip.zip"), Target: "task"}, "extract " + filepath.Join(dir, "notzip.zip")},
		{"missing dir", ContextEntry{Kind: EntryDir, Source: filepath.Join(dir, "nope"), Target: "task"}, "no such file"},
		{"file as dir", ContextEntry{Kind: EntryDir, Source: filepath.Join(dir, "file.txt"), Target: "task"}, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			err := writeContext(io.Discard, ImageBuild{Context: []ContextEntry{tt.entry}}, "")
			is.True(err != nil) // want an error
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// A zip bomb is refused before anything is extracted, naming the file; an archive that lies
// about its sizes fails while it is extracted.
func TestWriteContextZipBomb(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, add func(zw *zip.Writer) error) string {
		t.Helper()
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zw := zip.NewWriter(f)
		if err := add(zw); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	zeros := func(zw *zip.Writer, name string, n int64) error {
		w, err := zw.Create(name)
		if err != nil {
			return err
		}
		_, err = io.CopyN(w, zeroReader{}, n)
		return err
	}
	bomb := write("bomb.zip", func(zw *zip.Writer) error { return zeros(zw, "a.bin", MaxUnzippedSize+1) })
	spread := write("spread.jar", func(zw *zip.Writer) error {
		for _, n := range []string{"a", "b", "c"} {
			if err := zeros(zw, n, 100<<20); err != nil {
				return err
			}
		}
		return nil
	})
	liar := write("liar.zip", func(zw *zip.Writer) error {
		// Deflated 1 MB of zeros under a header that declares 10 bytes.
		var deflated bytes.Buffer
		fw, err := flate.NewWriter(&deflated, flate.BestCompression)
		if err != nil {
			return err
		}
		if _, err := io.CopyN(fw, zeroReader{}, 1<<20); err != nil {
			return err
		}
		if err := fw.Close(); err != nil {
			return err
		}
		w, err := zw.CreateRaw(&zip.FileHeader{Name: "x", Method: zip.Deflate, UncompressedSize64: 10, CompressedSize64: uint64(deflated.Len())})
		if err != nil {
			return err
		}
		_, err = w.Write(deflated.Bytes())
		return err
	})
	if st, err := os.Stat(bomb); err != nil || st.Size() > 1<<20 {
		t.Fatalf("the bomb should be small: %v %v", st, err)
	}
	tests := []struct {
		name, src string
		want      []string
	}{
		{"one large member", bomb, []string{"extract " + bomb, "more than 250 MB"}},
		{"members adding up", spread, []string{"extract " + spread, "more than 250 MB"}},
		{"declared sizes that lie", liar, []string{"extract " + liar + " member x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var out countingWriter
			err := writeContext(&out, ImageBuild{Context: []ContextEntry{{Kind: EntryZip, Source: tt.src, Target: "task"}}}, "")
			is.True(err != nil) // refused
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not contain %q", err, w)
				}
			}
			is.True(out.n < 2<<20) // nothing large was written
		})
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// A code directory of CodeUri ./ leaves out, at every depth, the names sam build leaves out:
// the repository's history and the SAM build output never enter the image.
func TestWriteContextExcludesNames(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"app.py":                          "print('hi')\n",
		".git/HEAD":                       "ref: refs/heads/main\n",
		".git/objects/ab/cdef":            "history",
		".aws-sam/build/template.yaml":    "built",
		"pkg/mod.py":                      "x = 1\n",
		"pkg/__pycache__/mod.cpython.pyc": "compiled",
		"pkg/old.pyc":                     "compiled",
		"pkg/.git":                        "gitdir: ../.git/modules/pkg\n", // a submodule's link file
		"vendor/git/readme":               "a directory merely named like it stays",
	})
	is.NoErr(os.Symlink("pkg", filepath.Join(dir, "linked")))
	b := ImageBuild{
		Dockerfile: "Dockerfile", DockerfileText: "FROM scratch\n",
		Context: []ContextEntry{{Kind: EntryDir, Source: dir, Target: "task", ExcludeNames: builders.ExcludedFiles("python3.12", "")}},
	}
	var buf bytes.Buffer
	is.NoErr(writeContext(&buf, b, dir))
	files, _ := readTar(t, buf.Bytes())
	is.Equal(slices.Sorted(maps.Keys(files)), []string{
		"Dockerfile",
		"task/", "task/app.py",
		"task/linked/", "task/linked/mod.py", // a followed link's tree leaves them out too
		"task/pkg/", "task/pkg/mod.py",
		"task/vendor/", "task/vendor/git/", "task/vendor/git/readme",
	})
}
