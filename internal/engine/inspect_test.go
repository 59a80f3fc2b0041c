package engine_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

func TestInspect(t *testing.T) {
	is := is.New(t)
	c := enginetest.Client(t)
	ctx := testCtx(t)
	id := enginetest.ScratchImage(t, c, enginetest.Unique("enginetest-inspect:v1"), map[string][]byte{"a": []byte("a")})

	info, found, err := engine.Inspect(ctx, c, enginetest.Unique("enginetest-inspect:v1"))
	is.NoErr(err)
	is.True(found)
	is.Equal(info.ID, id)

	_, found, err = engine.Inspect(ctx, c, "enginetest-inspect-absent:v1")
	is.NoErr(err) // missing is not an error
	is.True(!found)

	_, _, err = engine.Inspect(ctx, c, "enginetest-inspect:Not/Valid")
	is.True(err != nil) // an invalid name is an error, not "missing"
	is.True(strings.Contains(err.Error(), "enginetest-inspect:Not/Valid"))
}

// TestBuildTarget: a multi-stage build stops at the Target stage (the embedded producer's
// functions with a DockerTag target need it).
func TestBuildTarget(t *testing.T) {
	is := is.New(t)
	c := enginetest.Client(t)
	ctx := testCtx(t)
	tag := enginetest.Unique("enginetest-build:target")
	enginetest.Cleanup(t, c, tag)
	dockerfile := "FROM scratch AS first\nCOPY hello /hello\nLABEL stage=first\nFROM first AS second\nLABEL stage=second\n"
	var progress bytes.Buffer
	id, err := engine.Build(ctx, c, contextTar(t, "Dockerfile", dockerfile, "hello", "hello\n"), engine.BuildOptions{Tag: tag, Target: "first"}, &progress)
	is.NoErr(err)
	info, found, err := engine.Inspect(ctx, c, tag)
	is.NoErr(err)
	is.True(found)
	is.Equal(info.ID, id)
	is.Equal(info.Config.Labels["stage"], "first") // the later stage did not run
	is.True(!strings.Contains(progress.String(), "stage=second"))
}
