package builderstest

import (
	"strings"
	"testing"

	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/matryer/is"
)

// TestStandInRunsTheTools builds (or reuses) the stand-in image and checks the tools the
// builders call are on its PATH.
func TestStandInRunsTheTools(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	img := StandIn(t, api, StandInPackages...)
	out, code := Run(t, api, img, "sh", "-c", "python3 -m pip --version && npm --version && go version && make --version | head -n 1")
	is.Equal(code, int64(0)) // the tools run
	t.Log(out)
	is.True(strings.Contains(out, "go version"))
}

// TestJavaStandIn builds (or reuses) the Maven stand-in image.
func TestJavaStandIn(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	img := StandIn(t, api, JavaPackages...)
	out, code := Run(t, api, img, "sh", "-c", "mvn -v && ls /usr/share/maven-repo/org/apache/maven/plugins")
	t.Log(out)
	is.Equal(code, int64(0))
}
