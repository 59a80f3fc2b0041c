package inspect

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

func tarOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdOf(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := layerstore.Zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// A bundle whose two function images share a base layer, as the bundle's layers carry it: fn-a
// loaded at boot (compose runs it) and served, fn-b only served by the bundle's registry.
func TestScannerReport(t *testing.T) {
	is := is.New(t)
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	certDir := t.TempDir()
	_, err := certs.Generate(certDir, certs.GenerateOptions{Now: now, Validity: 10 * 24 * time.Hour})
	is.NoErr(err)
	ca, err := os.ReadFile(filepath.Join(certDir, "rootCA.crt"))
	is.NoErr(err)

	base := tarOf(t, map[string][]byte{"base.txt": bytes.Repeat([]byte("base "), 1000)})
	a := tarOf(t, map[string][]byte{"a.txt": []byte("a")})
	b := tarOf(t, map[string][]byte{"b.txt": []byte("b")})
	layer := func(d []byte) string { return digest(d) + ".tar.zst" }
	images, _ := json.Marshal([]layerstore.ManifestItem{
		{Config: "c1.json", RepoTags: []string{"fn-a:1"}, Layers: []string{layer(base), layer(a)}},
	})
	served := func(name, config string, layers ...[]byte) string {
		var files []string
		for _, l := range layers {
			files = append(files, `{"file":"`+layer(l)+`"}`)
		}
		return `{"name":"` + name + `","config":{"file":"` + config + `"},"layers":[` + strings.Join(files, ",") + `]}`
	}
	index := []byte(`{"address":"127.0.0.1:5010","images":[` + served("fn-a:1", "c1.json", base, a) + "," + served("fn-b:1", "c2.json", base, b) + `]}`)
	m, _ := json.Marshal(manifest.Manifest{SchemaVersion: manifest.SchemaMerged, Templates: []manifest.Template{{Path: "t.yaml"}},
		Build: manifest.Build{Project: "p"}, Images: []manifest.Image{
			{Name: "fn-a:1", Kind: manifest.KindFunction, Digest: "sha256:" + digest([]byte("c1"))}, {Name: "fn-b:1", Kind: manifest.KindFunction, Digest: "sha256:" + digest([]byte("c2"))},
		}})
	app := tarOf(t, map[string][]byte{
		"app/bundle/manifest.json":   m,
		"app/bundle/registry.json":   index,
		"app/compose.yml":            []byte("services:\n  web:\n    image: ${WEB_IMAGE}\n  api:\n    build: ./api\n"),
		"app/.env":                   []byte("WEB_IMAGE=nginx:1\nSECRET=hunter2\n"),
		"root/.esb/certs/rootCA.crt": ca,
		"root/.esb/certs/server.key": []byte("not read"),
		"app/config/functions.yml":   []byte("defaults: {}\nfunctions:\n  fn-b:\n    image: fn-b:1\n  fn-a:\n    image: fn-a:1\n    timeout: 3\n"),
		"app/config/routing.yml":     []byte("routes:\n  - {path: /a, method: post, function: fn-a}\n"),
	})
	store := tarOf(t, map[string][]byte{
		"images/manifest.json":   images,
		"images/" + layer(base):  zstdOf(t, base),
		"images/" + layer(a):     zstdOf(t, a),
		"images/" + layer(b):     zstdOf(t, b),
		"images/not-a-layer.txt": []byte("x"),
	})
	s := NewScanner("bundle:1")
	config := []byte(`{"config":{"Labels":{"io.dindbundler.engine-version":"26.1.5","io.dindbundler.suite":"trixie"}},"rootfs":{"type":"layers"}}`)
	for name, data := range map[string][]byte{"l1/layer.tar": store, "l2/layer.tar": app, "blobs/sha256/cfg": []byte(`{"not":"a tar"}`), "0123abcd.json": config} {
		is.NoErr(s.Entry(&tar.Header{Name: name, Size: int64(len(data)), Typeflag: tar.TypeReg}, bytes.NewReader(data)))
	}
	rep, err := s.Report(now)
	is.NoErr(err)
	is.Equal(rep.Project, "p")
	is.Equal(rep.Compression, layerstore.Zstd)
	is.Equal(len(rep.Images), 2)
	is.Equal(rep.Images[0].Kind, "function")
	is.Equal(rep.Images[0].SharedLayers, 1)
	is.Equal(rep.Images[0].Size, int64(len(base)+len(a)))
	is.Equal(rep.Images[0].CompressedSize, int64(len(zstdOf(t, base))+len(zstdOf(t, a))))
	is.Equal(len(rep.SharedLayers), 1)
	is.Equal(rep.SharedLayers[0].DiffID, "sha256:"+digest(base))
	is.Equal(rep.SharedLayers[0].Images, []string{"fn-a:1", "fn-b:1"})
	is.Equal(rep.Services, []Service{{Name: "api", Build: true}, {Name: "web", Image: "nginx:1"}}) // interpolated from the .env
	is.Equal(rep.EnvKeys, []string{"SECRET", "WEB_IMAGE"})
	is.Equal(rep.Functions, []Function{{Name: "fn-a", Image: "fn-a:1"}, {Name: "fn-b", Image: "fn-b:1"}}) // sorted
	is.Equal(rep.Routes, []Route{{Method: "POST", Path: "/a", Function: "fn-a"}})
	is.Equal(len(rep.Certs), 1)
	is.Equal(rep.Certs[0].DaysLeft, 10)
	is.Equal(rep.Engine, &Engine{Version: "26.1.5", Suite: "trixie"}) // from the base's labels in the image config
	is.Equal(len(rep.Missing), 0)

	var text, js bytes.Buffer
	is.NoErr(rep.Text(&text))
	is.NoErr(rep.JSON(&js))
	for _, out := range []string{text.String(), js.String()} {
		is.True(!strings.Contains(out, "hunter2")) // values are never shown
		is.True(strings.Contains(out, "SECRET"))
	}
	is.True(strings.Contains(text.String(), "shared layers (1)"))
	is.True(strings.Contains(text.String(), "routes (1, /app/config/routing.yml)\n  POST /a  → fn-a"))
}

func TestScannerNotABundle(t *testing.T) {
	is := is.New(t)
	s := NewScanner("x")
	data := tarOf(t, map[string][]byte{"etc/hostname": []byte("x")})
	is.NoErr(s.Entry(&tar.Header{Name: "l/layer.tar", Size: int64(len(data)), Typeflag: tar.TypeReg}, io.NopCloser(bytes.NewReader(data))))
	_, err := s.Report(time.Now())
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "not a dindbundler bundle"))
}
