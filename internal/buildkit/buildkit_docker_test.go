package buildkit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/buildkit"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/producer/builders/builderstest"
	"github.com/matryer/is"
)

// TestCacheMountOutlivesTheBuild: what one build leaves in a cache mount (one id, locked), the
// next build of another image finds there — how a changed lock file downloads only what is new.
func TestCacheMountOutlivesTheBuild(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base := builderstest.StandIn(t, api, builderstest.StandInPackages...)
	builderstest.CleanupDescendants(t, api, base)
	bk, err := buildkit.Connect(ctx, api, "")
	is.NoErr(err)
	defer bk.Close()
	id := fmt.Sprintf("dindbundlertest-%d-%d", os.Getpid(), time.Now().UnixNano())
	build := func(name, marker string) {
		t.Helper()
		dir := t.TempDir()
		df := fmt.Sprintf("FROM %s\nRUN --mount=type=cache,id=%s,target=/cache,sharing=locked ls /cache > /seen && touch /cache/%s\n", base, id, marker)
		is.NoErr(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644))
		view := buildkit.NewView(nil)
		_, _, err := bk.Build(ctx, buildkit.Build{Name: name, ContextDir: dir}, view)
		is.NoErr(view.Close())
		is.NoErr(err)
	}
	first, second := id+"-a:test", id+"-b:test"
	enginetest.Cleanup(t, api, first, second)
	build(first, "from-a")
	build(second, "from-b")
	files := enginetest.ImageFiles(t, api, first, "/seen")
	is.Equal(files["/seen"].Content, "") // the cache started empty
	files = enginetest.ImageFiles(t, api, second, "/seen")
	is.Equal(files["/seen"].Content, "from-a\n") // the second build found the first's file
}
