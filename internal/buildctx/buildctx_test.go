package buildctx

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

func TestDotEnv(t *testing.T) {
	tests := []struct {
		name    string
		project []byte
		want    string
	}{
		{"generated without a project .env", nil, "ENV=dev\nRUSTFS_ACCESS_KEY=ak\nRUSTFS_SECRET_KEY=sk\nCERT_DIR=/root/.esb/certs\n"},
		{"CERT_DIR appended", []byte("ENV=dev\nA=1\n"), "ENV=dev\nA=1\nCERT_DIR=/root/.esb/certs\n"},
		{"newline added before appending", []byte("A=1"), "A=1\nCERT_DIR=/root/.esb/certs\n"},
		{"empty project .env", []byte{}, "CERT_DIR=/root/.esb/certs\n"},
		{"host CERT_DIR replaced", []byte("A=1\nCERT_DIR=./.esb/certs\nB=2\n"), "A=1\nCERT_DIR=/root/.esb/certs\nB=2\n"},
		{"exported CERT_DIR replaced", []byte("  export CERT_DIR=/home/me/certs\n"), "CERT_DIR=/root/.esb/certs\n"},
		{"similar names untouched", []byte("MY_CERT_DIR=x\n"), "MY_CERT_DIR=x\nCERT_DIR=/root/.esb/certs\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(string(DotEnv(tt.project, "dev", "/root/.esb/certs", "ak", "sk")), tt.want)
		})
	}
}

func TestImagesList(t *testing.T) {
	is := is.New(t)
	m := manifest.Manifest{Images: []manifest.Image{
		{Name: "a:1", Digest: "sha256:man", Config: "sha256:cfg", DiffIDs: []string{"sha256:l1", "sha256:l2"}},
		{Name: "b:1", Digest: "sha256:b"}, // recorded without identity: its digest, no layers
	}}
	is.Equal(string(ImagesList(m)), "sha256:cfg a:1 sha256:l1,sha256:l2\nsha256:b b:1 -\n")
}

func TestPlanLayout(t *testing.T) {
	is := is.New(t)
	dir, err := filepath.EvalSymlinks(t.TempDir())
	is.NoErr(err)
	write := func(rel, content string, mode os.FileMode) string {
		p := filepath.Join(dir, rel)
		is.NoErr(os.MkdirAll(filepath.Dir(p), 0o755))
		is.NoErr(os.WriteFile(p, []byte(content), mode))
		return p
	}
	compose := write("docker-compose.yml", "services: {}\n", 0o644)
	write("config/app.conf", "x", 0o644)
	write("config/nested/more.conf", "y", 0o640)
	layer := write("build/layers/sha256/ab.tar.gz", "layer", 0o644)
	images := []Entry{{Name: "images", Dir: true, Mode: 0o755}, {Name: "images/manifest.json", Data: []byte("[]\n")}, {Name: "images/ab.tar.gz", Src: layer}}
	write("certs/rootCA.crt", "ca", 0o644)
	write("certs/server.key", testKey, 0o600)
	write("certs/sub/extra.crt", "extra", 0o644)

	entries, err := Plan(Bundle{
		Dockerfile: []byte("FROM x\n"), Entrypoint: []byte("#!/bin/sh\n"),
		ComposeFile: compose, ConfigDir: filepath.Join(dir, "config"), Root: dir, DotEnv: []byte("A=1\n"),
		Manifest: manifest.Manifest{Images: []manifest.Image{{Name: "a:1", Digest: "sha256:a", Config: "sha256:a", DiffIDs: []string{"sha256:l"}}}},
		CertDir:  filepath.Join(dir, "certs"), CertFiles: []string{"rootCA.crt", "server.key", "sub/extra.crt"},
		RunUID: 1001, RunGID: 1002, Images: images,
		Parts: []dind.RuntimeFile{{Source: "registry.sh", Installed: "dindbundler-registry.sh", Data: []byte("# registry part\n")}}, RegistryBinary: write("cache/registry-bin/k3y/dindbundler-registry", "ELF", 0o755),
		RegistryIndex: []byte("{}\n"), Served: ServedList([]string{"127.0.0.1:5010/f:1"}, []string{"127.0.0.1:5010/f:1"}),
	})
	is.NoErr(err)
	byName := map[string]Entry{}
	var names []string
	for _, e := range entries {
		byName[e.Name] = e
		names = append(names, e.Name)
	}
	is.Equal(names, []string{
		"Dockerfile", "app", "app/.env", "app/bundle", "app/bundle/images.txt", "app/bundle/manifest.json",
		"app/bundle/registry.json", "app/bundle/served.txt", "app/compose.yml", "app/config", "app/config/app.conf", "app/config/nested", "app/config/nested/more.conf",
		"bin", "bin/dindbundler-registry", "bin/dindbundler-registry.sh",
		"certs", "certs/rootCA.crt", "certs/server.key", "certs/sub", "certs/sub/extra.crt",
		"entrypoint.sh", "images", "images/ab.tar.gz", "images/manifest.json",
	})
	is.Equal(byName["bin/dindbundler-registry"].Mode, os.FileMode(0o755)) // executable
	is.True(byName["bin/dindbundler-registry"].Addressed)                 // named by its build key
	is.Equal(string(byName["app/bundle/served.txt"].Data), "127.0.0.1:5010/f:1 pull\n")
	is.Equal(byName["app/.env"].Mode, os.FileMode(0o600))         // secrets root-only
	is.Equal(byName["entrypoint.sh"].Mode, os.FileMode(0o755))    // executable
	is.Equal(byName["certs/server.key"].Mode, os.FileMode(0o600)) // keys private
	is.Equal(byName["app/config/nested/more.conf"].Mode, os.FileMode(0o640))
	for _, n := range []string{"certs", "certs/rootCA.crt", "certs/sub", "certs/sub/extra.crt"} {
		is.Equal(byName[n].UID, 1001) // certificates owned by RUN_UID:RUN_GID
		is.Equal(byName[n].GID, 1002)
	}
	is.Equal(byName["app/compose.yml"].UID, 0)
	is.Equal(string(byName["app/bundle/images.txt"].Data), "sha256:a a:1 sha256:l\n")
	is.True(strings.Contains(string(byName["app/bundle/manifest.json"].Data), `"diff_ids": [`)) // the manifest carries the identity

	// Written as a tar, the entries come back with their content, modes and owners.
	var buf bytes.Buffer
	is.NoErr(Write(&buf, entries))
	read := readTar(t, &buf)
	got := map[string]string{}
	for name, e := range read {
		got[name] = string(e.data)
	}
	is.Equal(read["certs/server.key"].hdr.Uid, 1001)
	is.Equal(read["certs/server.key"].hdr.Mode, int64(0o600))
	is.Equal(got["images/ab.tar.gz"], "layer") // streamed from the store
	is.Equal(got["images/manifest.json"], "[]\n")
	is.Equal(byName["images/ab.tar.gz"].Mode, os.FileMode(0o644))
	is.Equal(got["app/.env"], "A=1\n")
	is.Equal(got["app/config/nested/more.conf"], "y")
	_, hasDir := got["app/config/"]
	is.True(hasDir) // directories are entries of their own

	// Without a config dir the bundle still has an (empty) /app/config.
	entries, err = Plan(Bundle{ComposeFile: compose, Manifest: manifest.Manifest{Images: []manifest.Image{{Name: "a:1"}}}, Images: images, CertDir: filepath.Join(dir, "certs")})
	is.NoErr(err)
	found := false
	for _, e := range entries {
		found = found || (e.Name == "app/config" && e.Dir)
	}
	is.True(found)

	_, err = Plan(Bundle{ComposeFile: compose, Manifest: manifest.Manifest{Images: []manifest.Image{{Name: "a:1"}}}})
	is.True(err != nil) // no images: nothing to bundle
}

func TestFingerprint(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "f")
	is.NoErr(os.WriteFile(src, []byte("one"), 0o644))
	entries := []Entry{{Name: "f", Src: src, Mode: 0o644}, {Name: "d", Data: []byte("x"), Mode: 0o600}}
	a, rec, err := Fingerprint(entries, nil)
	is.NoErr(err)
	b, rec, err := Fingerprint(entries, rec)
	is.NoErr(err)
	is.Equal(a, b) // stable

	later := time.Now().Add(time.Hour)
	is.NoErr(os.Chtimes(src, later, later))
	c, rec, err := Fingerprint(entries, rec)
	is.NoErr(err)
	is.Equal(c, a) // a touched file with the same content is the same context

	entries[1].Data = []byte("y")
	d, rec, err := Fingerprint(entries, rec)
	is.NoErr(err)
	is.True(d != c) // generated content counts

	entries[1].UID = 5
	e, _, err := Fingerprint(entries, rec)
	is.NoErr(err)
	is.True(e != d) // so do owners

	is.NoErr(os.Remove(src))
	_, _, err = Fingerprint(entries, nil)
	is.True(err != nil) // a vanished input is an error, never "fresh"
}

// TestFingerprintSeesRenewedCertificate: a renewed certificate of the same size copied with
// cp -p (keeping the old one's mtime) is a new context; a layer store file is never read.
func TestFingerprintSeesRenewedCertificate(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	cert := filepath.Join(dir, "certs", "server.crt")
	is.NoErr(os.MkdirAll(filepath.Dir(cert), 0o755))
	is.NoErr(os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\nOLD\n"), 0o644))
	old := time.Now().Add(-24 * time.Hour)
	is.NoErr(os.Chtimes(cert, old, old))
	entries := []Entry{
		{Name: "certs/server.crt", Src: cert, Mode: 0o644},
		{Name: "images/layer", Src: filepath.Join(dir, "store", "sha256-aa.zst"), Mode: 0o644, Addressed: true}, // not there: never read
	}
	before, rec, err := Fingerprint(entries, nil)
	is.NoErr(err)

	renewed := filepath.Join(t.TempDir(), "server.crt")
	is.NoErr(os.WriteFile(renewed, []byte("-----BEGIN CERTIFICATE-----\nNEW\n"), 0o644))
	is.NoErr(os.Chtimes(renewed, old, old)) // same size, same mtime
	out, err := exec.Command("cp", "-p", renewed, cert).CombinedOutput()
	is.True(err == nil && len(out) == 0) // cp -p
	after, _, err := Fingerprint(entries, rec)
	is.NoErr(err)
	is.True(after != before) // the renewed certificate is seen
}

func TestWriteDetectsAChangingFile(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "f")
	is.NoErr(os.WriteFile(src, []byte("one"), 0o644))
	is.NoErr(Write(io.Discard, []Entry{{Name: "f", Src: src, Mode: 0o644}}))
	is.NoErr(os.Remove(src))
	err := Write(io.Discard, []Entry{{Name: "f", Src: src, Mode: 0o644}})
	is.True(err != nil) // a missing source fails the context, naming it
}

func TestLayer(t *testing.T) {
	is := is.New(t)
	entries := []Entry{
		{Name: "Dockerfile", Data: []byte("FROM x\n")},
		{Name: "entrypoint.sh", Mode: 0o755},
		{Name: "app", Dir: true, Mode: 0o755},
		{Name: "app/.env", Mode: 0o600},
		{Name: "certs", Dir: true, Mode: 0o755, UID: 7, GID: 8},
		{Name: "certs/sub/server.crt", Mode: 0o644, UID: 7, GID: 8},
		{Name: "images/manifest.json", Mode: 0o644},
		{Name: "bin", Dir: true, Mode: 0o755},
		{Name: "bin/dindbundler-registry", Mode: 0o755},
	}
	got := Layer(entries, "/root/.esb/certs")
	var names []string
	byName := map[string]Entry{}
	for _, e := range got {
		names = append(names, e.Name)
		byName[e.Name] = e
	}
	// bin/ itself is no entry: /usr/local/bin stays as the base has it.
	is.Equal(names, []string{"app", "app/.env", "images/manifest.json", "root/.esb/certs", "root/.esb/certs/sub/server.crt", "usr/local/bin/dindbundler-entrypoint.sh", "usr/local/bin/dindbundler-registry"})
	is.Equal(byName["root/.esb/certs"].UID, 7)                                           // the certificates keep RUN_UID:RUN_GID
	is.Equal(byName["usr/local/bin/dindbundler-entrypoint.sh"].Mode, os.FileMode(0o755)) // executable
}

type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

// readTar reads a whole tar, entries by name.
func readTar(t *testing.T, r io.Reader) map[string]tarEntry {
	t.Helper()
	out := map[string]tarEntry{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = tarEntry{hdr, data}
	}
}

func TestLayerParents(t *testing.T) {
	is := is.New(t)
	layer := Layer([]Entry{
		{Name: "entrypoint.sh", Mode: 0o755},
		{Name: "app", Dir: true, Mode: 0o755},
		{Name: "app/.env", Mode: 0o600},
		{Name: "certs", Dir: true, Mode: 0o755, UID: 7, GID: 8},
		{Name: "certs/server.crt", Mode: 0o644, UID: 7, GID: 8},
	}, "/root/.esb/certs")
	is.Equal(Parents(layer), []string{"/root", "/usr", "/root/.esb", "/usr/local", "/usr/local/bin"})

	base := map[string]Entry{
		"/root":          {Dir: true, Mode: 0o700},
		"/usr":           {Dir: true, Mode: 0o755},
		"/usr/local":     {Dir: true, Mode: 0o755, UID: 0, GID: 50}, // the base's owner is kept
		"/usr/local/bin": {Mode: 0o777},                             // a link in the base: left alone
	}
	var got []string
	for _, e := range WithParents(layer, base) {
		got = append(got, fmt.Sprintf("%s %t %o %d:%d", e.Name, e.Dir, e.Mode, e.UID, e.GID))
	}
	is.Equal(got, []string{
		"app true 755 0:0",
		"app/.env false 600 0:0",
		"root true 700 0:0", // as the base has it, not the engine's 0755
		"root/.esb/certs true 755 7:8",
		"root/.esb/certs/server.crt false 644 7:8",
		"usr true 755 0:0",
		"usr/local true 755 0:50",
		"usr/local/bin/dindbundler-entrypoint.sh false 755 0:0",
	})
}

// TestPlanRefusesCAKeyNames: what dind/Dockerfile's RUN refuses by name, whatever the content,
// the plan refuses too, so the bundle assembled without a builder cannot ship it either.
func TestPlanRefusesCAKeyNames(t *testing.T) {
	dir := t.TempDir()
	compose := filepath.Join(dir, "docker-compose.yml")
	is := is.New(t)
	is.NoErr(os.WriteFile(compose, []byte("services: {}\n"), 0o644))
	for _, name := range []string{"CA-Key.pem", "sub/ca.key", "rootCA-key.pem", "rootca.KEY"} {
		_, err := Plan(Bundle{
			ComposeFile: compose, Root: dir,
			Manifest: manifest.Manifest{Images: []manifest.Image{{Name: "a:1", Digest: "sha256:a"}}},
			CertDir:  filepath.Join(dir, "certs"), CertFiles: []string{"server.crt", name},
			Images: []Entry{{Name: "images", Dir: true, Mode: 0o755}},
		})
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "certs", name)) || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("%s: want a refusal naming the file, got %v", name, err)
		}
	}
}

// The merged runtime config lands in /app/config beside CONFIG_DIR's files; a CONFIG_DIR file at
// the same path must be the same, or the plan names both files.
func TestPlanRuntimeConfig(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	write := func(rel, content string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	compose := write("docker-compose.yml", "services: {}\n")
	functions := write("build/bundle/config/functions.yml", "functions: {}\n")
	write("build/bundle/config/routing.yml", "routes: []\n")
	write("config/app.conf", "x")
	images := []Entry{{Name: "images", Dir: true, Mode: 0o755}}
	bundle := func(configDir string) Bundle {
		return Bundle{
			ComposeFile: compose, ConfigDir: configDir, RuntimeConfigDir: filepath.Join(dir, "build", "bundle", "config"), Root: dir,
			Manifest: manifest.Manifest{Images: []manifest.Image{{Name: "a:1"}}}, Images: images, CertDir: filepath.Join(dir, "certs"),
		}
	}
	names := func(entries []Entry) map[string]Entry {
		m := map[string]Entry{}
		for _, e := range entries {
			if _, dup := m[e.Name]; dup {
				t.Errorf("%s listed twice", e.Name)
			}
			m[e.Name] = e
		}
		return m
	}
	cases := []struct {
		name   string
		config func() string // CONFIG_DIR after setup
		want   []string      // files under app/config
		err    []string
	}{
		{name: "no CONFIG_DIR", config: func() string { return "" }, want: []string{"app/config/functions.yml", "app/config/routing.yml"}},
		{name: "beside CONFIG_DIR's files", config: func() string { return filepath.Join(dir, "config") },
			want: []string{"app/config/app.conf", "app/config/functions.yml", "app/config/routing.yml"}},
		{name: "the same file in CONFIG_DIR is carried once", config: func() string {
			write("same/functions.yml", "functions: {}\n")
			return filepath.Join(dir, "same")
		}, want: []string{"app/config/functions.yml", "app/config/routing.yml"}},
		{name: "a different file in CONFIG_DIR", config: func() string {
			write("other/functions.yml", "functions: {x: {image: y}}\n")
			return filepath.Join(dir, "other")
		}, err: []string{filepath.Join(dir, "other", "functions.yml") + " (CONFIG_DIR)", functions, "/app/config/functions.yml", "differ"}},
		{name: "a directory in CONFIG_DIR where the runtime config has a file", config: func() string {
			write("asdir/routing.yml/x", "x")
			return filepath.Join(dir, "asdir")
		}, err: []string{"/app/config/routing.yml is a directory in one of CONFIG_DIR"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			entries, err := Plan(bundle(tc.config()))
			if tc.err != nil {
				is.True(err != nil) // refused
				for _, e := range tc.err {
					if !strings.Contains(err.Error(), e) {
						t.Errorf("error %q lacks %q", err, e)
					}
				}
				return
			}
			is.NoErr(err)
			byName := names(entries)
			var files []string
			for n, e := range byName {
				if strings.HasPrefix(n, "app/config/") && !e.Dir {
					files = append(files, n)
				}
			}
			sort.Strings(files)
			is.Equal(files, tc.want)
			is.Equal(byName["app/config/functions.yml"].Mode, os.FileMode(0o644))
			is.True(byName["app/config"].Dir)
		})
	}
}
