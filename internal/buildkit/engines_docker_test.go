package buildkit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/ocilayout"
)

// TestOtherEngineLanding checks the fact ConnectEngine's choice rests on, on each matrix engine
// of TEST_ENGINES as a builder for the host engine: a BuildKit inside an engine on the classic
// image store has no oci (nor docker) exporter, so its images are saved from that engine's
// store; one on the containerd store exports into this machine's OCI layout as a buildkitd does.
func TestOtherEngineLanding(t *testing.T) {
	api := enginetest.Client(t)
	for _, e := range enginetest.Engines(t) {
		if !e.Matrix() {
			continue
		}
		t.Run(e.Name, func(t *testing.T) {
			is := is.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			other := e.Client(t)
			bk, err := ConnectEngine(ctx, api, other, "docker+"+other.DaemonHost())
			is.NoErr(err)
			defer bk.Close()
			if e.Containerd() {
				is.Equal(bk.land, landLayout)
				is.True(bk.ExportsCache())
			} else {
				is.Equal(bk.land, landSaved)
				is.True(!bk.ExportsCache())
			}
			dir := t.TempDir()
			is.NoErr(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY Dockerfile /\n"), 0o644))
			name := "dindbundlertest-landing-" + e.Name + ":test"
			enginetest.Cleanup(t, api, name)
			enginetest.Cleanup(t, other, name)
			layout, err := ocilayout.Open(t.TempDir())
			is.NoErr(err)
			bk.LoadThrough(ocilayout.NewLoader(layout, api))
			bk.land = landLayout // what a buildkitd does: the oci exporter, into this machine's layout
			view := NewView(nil)
			_, _, err = bk.Build(ctx, Build{Name: name, ContextDir: dir}, view)
			is.NoErr(view.Close())
			t.Logf("%s: the oci exporter: %v", e.Name, err)
			if e.Containerd() {
				is.NoErr(err)
				return
			}
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), "exporter")) // "exporter \"oci\" could not be found"
		})
	}
}
