package embedded

import (
	"os"
	"testing"

	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

// TestMain removes the matrix engines (TEST_ENGINES) the tests started.
func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }
