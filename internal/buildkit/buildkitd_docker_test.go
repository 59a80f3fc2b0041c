package buildkit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/buildkit"
	"github.com/dindbundler/dindbundler/internal/buildkit/buildkittest"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/matryer/is"
)

// TestStandaloneBuildkitdAnswersUntilKilled: a buildkitd (BUILDKIT_HOST) builds an image that
// comes back into the engine as an archive; a Dockerfile's error leaves it answering, and once
// it is killed it does not answer — how a run tells a failed build from a lost builder.
func TestStandaloneBuildkitdAnswersUntilKilled(t *testing.T) {
	bin := buildkittest.Binary(t)
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d := buildkittest.Start(t, bin)
	bk, err := connectStandalone(t, ctx, api, d.Addr)
	is.NoErr(err)
	defer bk.Close()
	is.Equal(bk.Where, "BUILDKIT_HOST="+d.Addr)

	name := fmt.Sprintf("dindbundlertest-bkd-%d:test", os.Getpid())
	enginetest.Cleanup(t, api, name)
	dir := t.TempDir()
	is.NoErr(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY hello /hello\nCMD [\"/hello\"]\n"), 0o644))
	is.NoErr(os.WriteFile(filepath.Join(dir, "hello"), []byte("from buildkitd\n"), 0o644))
	build := func(dockerfile string) error {
		view := buildkit.NewView(nil)
		_, _, err := bk.Build(ctx, buildkit.Build{Name: name, ContextDir: dir, Dockerfile: dockerfile}, view)
		is.NoErr(view.Close())
		return err
	}
	is.NoErr(build(""))
	files := enginetest.ImageFiles(t, api, name, "/hello")
	is.Equal(files["/hello"].Content, "from buildkitd\n")

	is.NoErr(os.WriteFile(filepath.Join(dir, "Broken"), []byte("FROM scratch\nCOPY missing /missing\n"), 0o644))
	is.True(build("Broken") != nil)           // the user's error…
	is.NoErr(bk.Answers(ctx, 10*time.Second)) // …leaves the builder answering

	is.NoErr(d.Kill())
	is.True(bk.Answers(ctx, 10*time.Second) != nil)
}

// TestStandaloneBuildkitdOverSSH: BUILDKIT_HOST=ssh://USER@HOST:PORT/SOCKET reaches a buildkitd
// through ssh and `buildctl dial-stdio` on the remote side (here a throwaway sshd on loopback
// whose PATH holds a buildctl), and the image lands in the engine.
func TestStandaloneBuildkitdOverSSH(t *testing.T) {
	bin := buildkittest.Binary(t)
	remoteBin := t.TempDir()
	if err := os.Symlink(buildkittest.Buildctl(t), filepath.Join(remoteBin, "buildctl")); err != nil {
		t.Fatal(err)
	}
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d := buildkittest.Start(t, bin)
	host := enginetest.SSHHost(t, remoteBin) + strings.TrimPrefix(d.Addr, "unix://")
	bk, err := connectStandalone(t, ctx, api, host)
	is.NoErr(err)
	defer bk.Close()

	name := fmt.Sprintf("dindbundlertest-bkssh-%d:test", os.Getpid())
	enginetest.Cleanup(t, api, name)
	dir := t.TempDir()
	is.NoErr(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY hello /hello\nCMD [\"/hello\"]\n"), 0o644))
	is.NoErr(os.WriteFile(filepath.Join(dir, "hello"), []byte("over ssh\n"), 0o644))
	view := buildkit.NewView(nil)
	_, _, err = bk.Build(ctx, buildkit.Build{Name: name, ContextDir: dir}, view)
	is.NoErr(view.Close())
	is.NoErr(err)
	files := enginetest.ImageFiles(t, api, name, "/hello")
	is.Equal(files["/hello"].Content, "over ssh\n")
}
