package pipeline

import (
	"context"
	"os"
	"testing"

	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

// testBaseImage is the local DinD base (no registry here): built once per machine on the host
// engine, then cached; a matrix engine gets a copy.
func testBaseImage(t *testing.T, e enginetest.Engine) string {
	t.Helper()
	if _, err := base.Ensure(context.Background(), enginetest.Client(t), base.Options{}); err != nil {
		t.Fatalf("build the DinD base image: %v", err)
	}
	e.FromHost(t, base.DefaultTag)
	return base.DefaultTag
}

func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }
