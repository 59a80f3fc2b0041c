package engine_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

// DOCKER_HOST=ssh://… reaches the engine through ssh as the docker CLI does (the remote side runs
// `docker system dial-stdio`), and so does a docker context whose endpoint is that URL: both
// clients talk to the same engine as the local socket.
func TestRemoteEngineOverSSH(t *testing.T) {
	url := enginetest.SSHHost(t)
	ctx := testCtx(t)
	is := is.New(t)

	t.Setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
	local, err := engine.New()
	is.NoErr(err)
	defer local.Close()
	want, err := local.Info(ctx)
	is.NoErr(err)

	t.Setenv("DOCKER_HOST", url)
	viaSSH, err := engine.New()
	is.NoErr(err)
	defer viaSSH.Close()
	got, err := viaSSH.Info(ctx)
	is.NoErr(err)
	is.Equal(got.ID, want.ID) // the same engine, reached over ssh
	images, err := viaSSH.ImageList(ctx, image.ListOptions{})
	is.NoErr(err)
	t.Logf("over %s: engine %s, %d images", url, got.ServerVersion, len(images))

	// The same endpoint as a docker context, selected with DOCKER_CONTEXT.
	configDir := t.TempDir()
	sum := sha256.Sum256([]byte("build-host"))
	meta := filepath.Join(configDir, "contexts", "meta", hex.EncodeToString(sum[:]), "meta.json")
	is.NoErr(os.MkdirAll(filepath.Dir(meta), 0o755))
	is.NoErr(os.WriteFile(meta, []byte(`{"Name":"build-host","Endpoints":{"docker":{"Host":"`+url+`"}}}`), 0o644))
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONFIG", configDir)
	t.Setenv("DOCKER_CONTEXT", "build-host")
	viaContext, err := engine.New()
	is.NoErr(err)
	defer viaContext.Close()
	got, err = viaContext.Info(ctx)
	is.NoErr(err)
	is.Equal(got.ID, want.ID) // the context's ssh endpoint is the same engine
}
