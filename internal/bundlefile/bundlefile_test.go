package bundlefile

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/layerstore"
)

func TestPlan(t *testing.T) {
	is := is.New(t)
	is.Equal(BaseName("esb-dind-bundle:latest"), "esb-dind-bundle-latest")
	is.Equal(BaseName("registry:5000/team/my bundle:1.2"), "my_bundle-1.2")
	is.Equal(Path("/b", "x:1", layerstore.Gzip, ""), "/b/x-1.tar.gz")
	is.Equal(Path("/b", "x:1", layerstore.Zstd, "sha256:0123456789abcdef0000"), "/b/x-1.from-0123456789ab.tar.zst")
	is.Equal(Path("/b", "x:1", layerstore.None, ""), "/b/x-1.tar")
	is.Equal(LoadLine("/b/x-1.tar.gz", layerstore.Gzip), "docker load -i x-1.tar.gz")
	is.True(strings.Contains(LoadLine("/b/x-1.tar.zst", layerstore.Zstd), "older engines: zstd -dc x-1.tar.zst | docker load"))
	is.Equal(RunLine("x:1", []string{"8443", "53/udp"}), "docker run -d --privileged -v x-1-docker:/var/lib/docker -p 8443:8443 -p 53/udp:53/udp x:1")
}

func TestOmit(t *testing.T) {
	tests := []struct {
		name          string
		current, prev []string
		want          int
		wantErr       bool
	}{
		{name: "common base", current: []string{"a", "b", "c"}, prev: []string{"a", "b", "x"}, want: 2},
		{name: "nothing shared: a full-size file that still needs the other bundle", current: []string{"a"}, prev: []string{"x"}, wantErr: true},
		{name: "an empty previous bundle", current: []string{"a"}, prev: nil, wantErr: true},
		{name: "previous is shorter", current: []string{"a", "b"}, prev: []string{"a"}, want: 1},
		{name: "a layer equal above a difference is not shared", current: []string{"a", "x", "c"}, prev: []string{"a", "b", "c"}, want: 1},
		{name: "the same bundle", current: []string{"a", "b"}, prev: []string{"a", "b", "c"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := Omit(tt.current, tt.prev)
			if tt.wantErr {
				is.True(err != nil)
				t.Logf("refused: %v", err)
				return
			}
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
}

func TestHeader(t *testing.T) {
	is := is.New(t)
	m := Meta{Format: Format, Bundle: "x:1", Image: "sha256:aa", Compression: "gzip", Requires: &Ref{Bundle: "x:0", Image: "sha256:bb"}, Omitted: 3, Run: "docker run x:1"}
	h, err := Header(m)
	is.NoErr(err)
	is.Equal(len(h), HeaderSize)
	kv, err := ParseHeader(h)
	is.NoErr(err)
	is.Equal(kv["requires"], "sha256:bb")
	is.Equal(kv["run"], "docker run x:1")
	is.Equal(kv["omitted"], "3")

	m.Run = strings.Repeat("r", HeaderSize) // too long: left out
	h, err = Header(m)
	is.NoErr(err)
	kv, _ = ParseHeader(h)
	is.Equal(kv["run"], "")

	m.Bundle = strings.Repeat("b", HeaderSize)
	_, err = Header(m)
	is.True(err != nil)

	_, err = ParseHeader([]byte("format=other\n"))
	is.True(err != nil)
}

// saveArchive is a classic engine's `docker save` layout: <id>/layer.tar per layer (listed in
// lexical order, not layer order), a config, manifest.json.
func saveArchive(t *testing.T, layers map[string][]byte) (entries []entry, diffIDs map[string]string) {
	diffIDs = map[string]string{}
	for dir, content := range layers {
		sum := sha256.Sum256(content)
		diffIDs[dir] = "sha256:" + hex.EncodeToString(sum[:])
	}
	for _, dir := range []string{"aaa", "bbb", "ccc"} {
		entries = append(entries, entry{dir + "/VERSION", []byte("1.0")}, entry{dir + "/layer.tar", layers[dir]})
	}
	entries = append(entries, entry{"cfg.json", []byte("{}")}, entry{"manifest.json", []byte(`[{"Config":"cfg.json","Layers":["ccc/layer.tar","aaa/layer.tar","bbb/layer.tar"]}]`)})
	return entries, diffIDs
}

type entry struct {
	name string
	data []byte
}

func source(entries []entry) Source {
	return func(fn EntryFunc) error {
		for _, e := range entries {
			if err := fn(&tar.Header{Name: e.name, Size: int64(len(e.data)), Mode: 0o644, Typeflag: tar.TypeReg}, bytes.NewReader(e.data)); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestWriteLeavesOutTheCommonChain(t *testing.T) {
	layers := map[string][]byte{"ccc": []byte("base layer"), "aaa": []byte("middle layer"), "bbb": []byte("top layer")}
	entries, ids := saveArchive(t, layers)
	order := []string{ids["ccc"], ids["aaa"], ids["bbb"]}
	for _, c := range []layerstore.Compression{layerstore.Gzip, layerstore.Zstd, layerstore.None} {
		for _, omitted := range []int{0, 2} {
			t.Run(string(c), func(t *testing.T) {
				is := is.New(t)
				path := Path(t.TempDir(), "x:1", c, "")
				m := Meta{Bundle: "x:1", Image: "sha256:img", Layers: order, Omitted: omitted}
				if omitted > 0 {
					m.Requires = &Ref{Bundle: "x:0", Image: "sha256:prev", Layers: order[:2]}
				}
				res, err := Write(path, m, c, source(entries))
				is.NoErr(err)
				is.Equal(res.OmittedFiles, omitted)

				data, err := os.ReadFile(path)
				is.NoErr(err)
				sum := sha256.Sum256(data)
				is.Equal(res.SHA256, hex.EncodeToString(sum[:]))
				is.Equal(res.Size, int64(len(data)))
				is.Equal(layerstore.Detect(data), c)
				sumFile, err := os.ReadFile(SumPath(path))
				is.NoErr(err)
				is.Equal(string(sumFile), res.SHA256+"  "+filepath.Base(path)+"\n")

				meta, err := ReadMeta(path)
				is.NoErr(err)
				is.Equal(meta.Omitted, omitted)
				is.Equal(meta.Compression, c)

				var names []string
				first := true
				is.NoErr(Entries(path, func(h *tar.Header, r io.Reader) error {
					if first {
						// The shell reads the description at bytes 512…1535.
						is.Equal(h.Name, HeaderName)
						is.Equal(h.Size, int64(HeaderSize))
						first = false
					}
					names = append(names, h.Name)
					return nil
				}))
				has := strings.Join(names, " ")
				is.True(strings.Contains(has, "bbb/layer.tar"))                                      // the new layer is there
				is.Equal(strings.Contains(has, "ccc/layer.tar"), omitted == 0)                       // the base only in a full file
				is.Equal(strings.Contains(has, "aaa/layer.tar"), omitted == 0)                       // the middle too
				is.True(strings.Contains(has, "manifest.json") && strings.Contains(has, "cfg.json")) // the image description always
				if c == layerstore.None {
					is.Equal(string(data[512:512+len("format=")]), "format=")
				}
			})
		}
	}
}

func TestWriteFailsAtomically(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	path := Path(dir, "x:1", layerstore.Gzip, "")
	is.NoErr(os.WriteFile(SumPath(path), []byte("old"), 0o644))
	_, err := Write(path, Meta{Bundle: "x:1", Layers: []string{"sha256:a"}}, layerstore.Gzip, func(fn EntryFunc) error {
		return io.ErrUnexpectedEOF
	})
	is.True(err != nil)
	left, _ := os.ReadDir(dir)
	is.Equal(len(left), 0) // no partial file, and no old checksum that could vouch for one

	_, err = Write(path, Meta{Bundle: "x:1", Layers: []string{"sha256:a"}, Omitted: 1}, layerstore.Gzip, nil)
	is.True(err != nil) // a file carrying no layer is refused before anything is read

	_, err = ReadMeta(filepath.Join(dir, "absent.tar.gz"))
	is.True(err != nil)
}
