package base_test

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/internal/buildlock"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

// An existing tag is the cache: Ensure returns at once, without looking for any tool (PATH is
// empty here, so a build attempt would fail).
func TestEnsureKeepsExistingImage(t *testing.T) {
	is := is.New(t)
	api := enginetest.Client(t)
	tag := enginetest.Unique("dindtest-base-existing:1")
	enginetest.ScratchImage(t, api, tag, map[string][]byte{"etc/marker": []byte("x")})
	t.Setenv("PATH", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	built, err := base.Ensure(ctx, api, base.Options{Tag: tag, CacheDir: t.TempDir()})
	is.NoErr(err)
	is.True(!built)
}

// A missing image and no debootstrap: the error says how to install it, before any work.
func TestEnsureWithoutDebootstrap(t *testing.T) {
	is := is.New(t)
	api := enginetest.Client(t)
	t.Setenv("PATH", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	built, err := base.Ensure(ctx, api, base.Options{Tag: "dindtest-base-absent:1", CacheDir: t.TempDir()})
	is.True(err != nil)
	is.True(!built)
	is.True(strings.Contains(err.Error(), "apt-get install debootstrap"))
}

// The default base (built here once, then cached by tag) carries what the bundle entrypoint
// runs: the engine, its CLI, and the compose v2 plugin from the suite's packages.
func TestDefaultBaseHasEngineCLIAndCompose(t *testing.T) {
	is := is.New(t)
	api := enginetest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, err := base.Ensure(ctx, api, base.Options{})
	is.NoErr(err)
	paths := []string{"/usr/sbin/dockerd", "/usr/bin/docker", "/usr/bin/docker-init", "/usr/libexec/docker/cli-plugins/docker-compose", "/usr/bin/zstd", "/usr/local/sbin/.iptables-legacy/iptables"}
	files := enginetest.ImageFiles(t, api, base.DefaultTag, paths...)
	for _, p := range paths {
		if _, ok := files[p]; !ok {
			t.Errorf("%s lacks %s", base.DefaultTag, p)
		}
	}
	info, err := api.ImageInspect(ctx, base.DefaultTag)
	is.NoErr(err)
	is.Equal(info.Config.Labels["io.dindbundler.suite"], base.DefaultSuite)
}

// ImportTree streams a directory into the engine as one image with the changes given, and a
// directory tar cannot read fails naming tar and the directory. The DinD base and the demo's
// root filesystem are both imported this way.
func TestImportTree(t *testing.T) {
	is := is.New(t)
	api := enginetest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	is.NoErr(os.MkdirAll(filepath.Join(dir, "etc"), 0o755))
	is.NoErr(os.WriteFile(filepath.Join(dir, "etc", "marker"), []byte("imported"), 0o644))
	tag := fmt.Sprintf("dindtest-import-tree-%d:1", time.Now().UnixNano())
	enginetest.Cleanup(t, api, tag, tag+"-absent")

	id, err := base.ImportTree(ctx, api, dir, tag, []string{`CMD ["/bin/marker"]`})
	is.NoErr(err)
	is.True(strings.HasPrefix(id, "sha256:"))
	inspect, _, err := api.ImageInspectWithRaw(ctx, tag)
	is.NoErr(err)
	is.Equal(inspect.ID, id)
	is.Equal([]string(inspect.Config.Cmd), []string{"/bin/marker"})
	is.Equal(enginetest.ImageFiles(t, api, tag, "/etc/marker")["/etc/marker"].Content, "imported")

	_, err = base.ImportTree(ctx, api, filepath.Join(dir, "absent"), tag+"-absent", nil)
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "tar "+filepath.Join(dir, "absent")))
	ids, _, err := engine.ImageIDs(ctx, api, []string{tag + "-absent"})
	is.NoErr(err)
	is.Equal(ids[tag+"-absent"], "") // the engine's image of the cut stream is not left to pass for built
}

// A Debian stand-in image on a machine without debootstrap fails before any work, with the
// sentinel the test kits skip on and the command that fixes it.
func TestBuildDebianWithoutDebootstrap(t *testing.T) {
	is := is.New(t)
	t.Setenv("PATH", t.TempDir())
	err := base.BuildDebian(context.Background(), nil, base.DebianImage{Tag: "dindtest-debian:1", Suite: "bookworm", Packages: []string{"make"}})
	is.True(errors.Is(err, base.ErrCannotDebootstrap))
	is.True(strings.Contains(err.Error(), "build dindtest-debian:1"))
	is.True(strings.Contains(err.Error(), "apt-get install debootstrap"))
}

// Ensure waits while another process builds its tag (the lock buildlock.EnsureImage takes in
// CacheDir), then finds the image that build made and builds nothing itself.
func TestEnsureWaitsForAnotherBuildOfItsTag(t *testing.T) {
	is := is.New(t)
	api := enginetest.Client(t)
	if os.Geteuid() != 0 {
		t.Skip("Ensure's preflight needs root before it takes the lock")
	}
	cache := t.TempDir()
	tag := enginetest.Unique("dindtest-base-locked:1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	building, release := make(chan struct{}), make(chan struct{})
	other := make(chan error, 1)
	go func() {
		_, err := buildlock.EnsureImage(ctx, buildlock.Image{
			Tag: tag, Dir: filepath.Join(cache, "image-locks"),
			Have:  func(context.Context) (bool, error) { return false, nil },
			Build: func(context.Context) error { close(building); <-release; return nil },
		}, buildlock.Options{})
		other <- err
	}()
	<-building
	type result struct {
		built bool
		err   error
	}
	ensured := make(chan result, 1)
	go func() {
		built, err := base.Ensure(ctx, api, base.Options{Tag: tag, CacheDir: cache})
		ensured <- result{built, err}
	}()
	select {
	case r := <-ensured:
		t.Fatalf("Ensure did not wait for the other build of %s: built %v, %v", tag, r.built, r.err)
	case <-time.After(500 * time.Millisecond):
	}
	enginetest.ScratchImage(t, api, tag, map[string][]byte{"etc/marker": []byte("built by the other")})
	close(release)
	is.NoErr(<-other)
	r := <-ensured
	is.NoErr(r.err)
	is.True(!r.built) // it found the other's image
}

// bookworm's compose plugin comes from trixie's docker-compose package through apt's private
// configuration under the cache: downloaded once, then found there by version, nothing of the
// download left over, and linked against libc alone with no symbol newer than bookworm's glibc
// 2.36 (the build also runs it in the bookworm root filesystem).
func TestFetchComposeFromTrixie(t *testing.T) {
	enginetest.SkipWithoutDocker(t) // it feeds a base build, which needs the engine; fast runs skip the download too
	is := is.New(t)
	if os.Geteuid() != 0 {
		t.Skip("the base build, and apt as configured for it, run as root")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("no apt-get here: the bookworm base is built on Debian hosts")
	}
	sources, err := base.ReadAptSources("/")
	is.NoErr(err)
	p, err := base.NewPlan(base.Options{Suite: "bookworm"}, sources, t.TempDir(), runtime.GOARCH)
	if err != nil {
		t.Skipf("no bookworm plan on this host: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	path, version, cached, err := base.FetchCompose(ctx, *p.Compose)
	is.NoErr(err)
	is.True(!cached)
	is.Equal(path, p.Compose.Binary(version))
	fi, err := os.Stat(path)
	is.NoErr(err)
	is.True(fi.Mode().Perm()&0o111 != 0) // executable
	leftovers, _ := filepath.Glob(filepath.Join(p.Compose.Dir, ".download-*"))
	is.Equal(len(leftovers), 0)

	again, againVersion, cached, err := base.FetchCompose(ctx, *p.Compose)
	is.NoErr(err)
	is.True(cached) // the second build downloads nothing
	is.Equal(again, path)
	is.Equal(againVersion, version)

	bin, err := elf.Open(path)
	is.NoErr(err)
	defer bin.Close()
	libs, err := bin.ImportedLibraries()
	is.NoErr(err)
	is.Equal(libs, []string{"libc.so.6"})
	syms, err := bin.ImportedSymbols()
	is.NoErr(err)
	for _, s := range syms {
		if v, ok := strings.CutPrefix(s.Version, "GLIBC_"); ok && newerGlibc(v, "2.36") {
			t.Errorf("%s %s needs %s, newer than bookworm's glibc 2.36", path, s.Name, s.Version)
		}
	}
}

// newerGlibc reports whether glibc version v ("2.34") is newer than max.
func newerGlibc(v, max string) bool {
	a, b := strings.Split(v, "."), strings.Split(max, ".")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x, _ = strconv.Atoi(a[i])
		}
		if i < len(b) {
			y, _ = strconv.Atoi(b[i])
		}
		if x != y {
			return x > y
		}
	}
	return false
}
