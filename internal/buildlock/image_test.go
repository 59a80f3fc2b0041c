package buildlock_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/buildlock"
)

// fakeEngine stands for the engine's image list: Have asks it, a build adds to it.
type fakeEngine struct {
	mu     sync.Mutex
	images map[string]bool
	builds atomic.Int32
}

func (e *fakeEngine) image(dir, tag string, build func(context.Context) error) buildlock.Image {
	return buildlock.Image{
		Tag: tag,
		Dir: dir,
		Have: func(context.Context) (bool, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.images[tag], nil
		},
		Build: func(ctx context.Context) error {
			e.builds.Add(1)
			if err := build(ctx); err != nil {
				return err
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			e.images[tag] = true
			return nil
		},
	}
}

// Two different tags build at once: each fake build waits until the other has started, which
// it could not if one lock (the old base.lock) serialised them.
func TestEnsureImageDifferentTagsBuildAtOnce(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	e := &fakeEngine{images: map[string]bool{}}
	started := map[string]chan struct{}{"dindtest-a:1": make(chan struct{}), "dindtest-b:1": make(chan struct{})}
	other := map[string]string{"dindtest-a:1": "dindtest-b:1", "dindtest-b:1": "dindtest-a:1"}
	errs := make(chan error, 2)
	for tag := range started {
		go func() {
			_, err := buildlock.EnsureImage(context.Background(), e.image(dir, tag, func(context.Context) error {
				close(started[tag])
				select {
				case <-started[other[tag]]:
					return nil
				case <-time.After(5 * time.Second):
					return fmt.Errorf("%s built alone: the build of %s never started beside it", tag, other[tag])
				}
			}), buildlock.Options{})
			errs <- err
		}()
	}
	is.NoErr(<-errs)
	is.NoErr(<-errs)
	is.Equal(e.builds.Load(), int32(2))
}

// Several processes wanting the same tag at once: one builds, the others wait for its lock,
// say whom they wait for, and then find the image.
func TestEnsureImageSameTagBuildsOnce(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	e := &fakeEngine{images: map[string]bool{}}
	var log syncBuffer
	const callers = 4
	type result struct {
		built bool
		err   error
	}
	results := make(chan result, callers)
	for range callers {
		go func() {
			built, err := buildlock.EnsureImage(context.Background(), e.image(dir, "dindtest-same:1", func(context.Context) error {
				time.Sleep(300 * time.Millisecond)
				return nil
			}), buildlock.Options{Log: &log, Report: 50 * time.Millisecond})
			results <- result{built, err}
		}()
	}
	var builders int
	for range callers {
		r := <-results
		is.NoErr(r.err)
		if r.built {
			builders++
		}
	}
	is.Equal(builders, 1)                                                                                    // exactly one caller reports that it built
	is.Equal(e.builds.Load(), int32(1))                                                                      // and the build ran once
	is.True(strings.Contains(log.String(), "waiting for image dindtest-same:1: another run holds it (pid ")) // the waiters named the holder
}

// A failed build returns its error and gives the lock up: the next caller builds.
func TestEnsureImageFailedBuildReleasesTheLock(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	e := &fakeEngine{images: map[string]bool{}}
	boom := errors.New("debootstrap failed")
	_, err := buildlock.EnsureImage(context.Background(), e.image(dir, "dindtest-fail:1", func(context.Context) error { return boom }), buildlock.Options{})
	is.True(errors.Is(err, boom))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	built, err := buildlock.EnsureImage(ctx, e.image(dir, "dindtest-fail:1", func(context.Context) error { return nil }), buildlock.Options{})
	is.NoErr(err)
	is.True(built)
}

// An image the engine has is never locked or built; a wait for a held tag ends with ctx.
func TestEnsureImageExistingAndCancelled(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	e := &fakeEngine{images: map[string]bool{"dindtest-there:1": true}}
	built, err := buildlock.EnsureImage(context.Background(), e.image(dir, "dindtest-there:1", func(context.Context) error {
		return errors.New("must not build")
	}), buildlock.Options{})
	is.NoErr(err)
	is.True(!built)

	held := make(chan struct{})
	release := make(chan struct{})
	go func() {
		_, _ = buildlock.EnsureImage(context.Background(), e.image(dir, "dindtest-held:1", func(context.Context) error {
			close(held)
			<-release
			return nil
		}), buildlock.Options{})
	}()
	<-held
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = buildlock.EnsureImage(ctx, e.image(dir, "dindtest-held:1", func(context.Context) error { return nil }), buildlock.Options{})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "build image dindtest-held:1: waiting for image dindtest-held:1"))
	is.True(strings.Contains(err.Error(), "deadline exceeded"))
}

// Lock file names are readable and distinct for tags that differ only in replaced characters.
func TestImageLockName(t *testing.T) {
	is := is.New(t)
	tests := []struct{ tag, prefix string }{
		{"dindbundler/dind-base:trixie", "dindbundler_dind-base_trixie-"},
		{"builders-standin:0123abcd", "builders-standin_0123abcd-"},
		{"dindbundler/demo-rootfs:abc", "dindbundler_demo-rootfs_abc-"},
	}
	for _, tt := range tests {
		name := buildlock.ImageLockName(tt.tag)
		is.True(strings.HasPrefix(name, tt.prefix)) // readable
		is.True(strings.HasSuffix(name, ".lock"))
		is.True(!strings.Contains(name, "/")) // one file in the lock directory
	}
	is.True(buildlock.ImageLockName("a/b:c") != buildlock.ImageLockName("a:b/c")) // same after replacing, different locks
}
