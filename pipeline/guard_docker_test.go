package pipeline

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

// TestPipelineCarriesWhatTheStackReads builds a real bundle from a stack whose compose file reads
// host files, whose CONFIG_DIR holds a linked directory and whose CERT_DIR holds a private key
// named *.pem; then renews a certificate with one of the same size copied with cp -p.
func TestPipelineCarriesWhatTheStackReads(t *testing.T) {
	enginetest.Each(t, pipelineCarriesWhatTheStackReadsOn)
}

func pipelineCarriesWhatTheStackReadsOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	p := newProject(t, e, api, "")
	p.write(t, "docker-compose.yml", `services:
  web:
    image: pipelinetest-web:1
    env_file: ./extra.env
    volumes:
      - ./data:/data
      - /var/lib/guard-host:/host
      - ./config/app.conf:/etc/app.conf:ro
      - ${CERT_DIR:?set CERT_DIR}:/certs:ro
`)
	p.write(t, "extra.env", "TOKEN=guard\n")
	p.write(t, "data/seed.sql", "insert\n")
	p.write(t, "shared/nginx/site.conf", "server {}\n")
	is.NoErr(os.Symlink(filepath.Join(p.dir, "shared", "nginx"), filepath.Join(p.dir, "config", "nginx")))
	certDir := filepath.Join(p.dir, ".esb", "certs")
	key, err := os.ReadFile(filepath.Join(certDir, "server.key"))
	is.NoErr(err)
	p.write(t, ".esb/certs/tls/server-key.pem", string(key))
	server, err := os.ReadFile(filepath.Join(certDir, "server.crt"))
	is.NoErr(err)
	p.write(t, ".esb/certs/legacy/old.crt", string(server))

	var log strings.Builder
	b := p.bundler(t, api)
	b.Log = &log
	is.NoErr(runAll(t, ctx, b))
	is.True(strings.Contains(log.String(), "/var/lib/guard-host is a host path outside the project")) // warned
	is.True(!strings.Contains(log.String(), "/root/.esb/certs is a host path"))                       // the bundle's own certificates

	files := enginetest.ImageFiles(t, api, b.Config.BundleTag, "/app", "/root/.esb/certs")
	compose := files["/app/compose.yml"].Content
	for _, want := range []string{"${CERT_DIR:?set CERT_DIR}:/certs:ro", "env_file: /app/files/extra.env", "/app/files/data:/data", "/var/lib/guard-host:/host", "/app/config/app.conf:/etc/app.conf:ro"} {
		is.True(strings.Contains(compose, want)) // the compose file points at the copies
	}
	is.Equal(files["/app/files/extra.env"].Content, "TOKEN=guard\n")
	is.Equal(files["/app/files/extra.env"].Mode.Perm(), os.FileMode(0o600))
	is.Equal(files["/app/files/data/seed.sql"].Content, "insert\n")
	is.Equal(files["/app/config/nginx/site.conf"].Content, "server {}\n") // linked directory bundled with its content
	is.Equal(files["/root/.esb/certs/tls/server-key.pem"].Mode.Perm(), os.FileMode(0o600))
	is.Equal(files["/root/.esb/certs/server.crt"].Mode.Perm(), os.FileMode(0o644))

	// A renewed certificate of the same size, copied with cp -p (an old mtime): bundled.
	old := time.Now().Add(-48 * time.Hour)
	target := filepath.Join(certDir, "legacy", "old.crt")
	is.NoErr(os.Chtimes(target, old, old))
	renewed := []byte(string(server))
	i := strings.Index(string(renewed), "-----END") - 10
	if renewed[i] == 'A' {
		renewed[i] = 'B'
	} else {
		renewed[i] = 'A'
	}
	src := filepath.Join(t.TempDir(), "old.crt")
	is.NoErr(os.WriteFile(src, renewed, 0o644))
	is.NoErr(os.Chtimes(src, old, old))
	out, err := exec.Command("cp", "-p", src, target).CombinedOutput()
	is.True(err == nil && len(out) == 0)
	is.NoErr(runAll(t, ctx, p.bundler(t, api)))
	files = enginetest.ImageFiles(t, api, b.Config.BundleTag, "/root/.esb/certs/legacy")
	is.Equal(files["/root/.esb/certs/legacy/old.crt"].Content, string(renewed)) // the renewed one
}
