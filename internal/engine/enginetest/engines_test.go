package enginetest_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }

// Each selected engine answers with the store it claims, and pulls from its test registry.
func TestEnginesAnswerAndPull(t *testing.T) {
	for _, e := range enginetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			is := is.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			c := e.Client(t)
			info, err := c.Info(ctx)
			is.NoErr(err)
			t.Logf("%s: Engine %s, driver %s, store %v", e.Name, info.ServerVersion, info.Driver, info.DriverStatus)
			if e.Matrix() {
				is.True(strings.HasPrefix(info.ServerVersion, "28."))
				store, err := c.Store(ctx)
				is.NoErr(err)
				is.Equal(store == engine.ContainerdStore, e.Containerd())
			}
			ref := enginetest.PushRandom(t, e.Registry(t), "enginetest-matrix", "v1", 1, 4096)
			enginetest.Cleanup(t, c, ref)
			is.NoErr(engine.Pull(ctx, c, ref, nil))
		})
	}
}
