// Package buildlock keeps two runs off one piece of work. A pipeline run holds an exclusive lock
// on BUILD_DIR/.lock for as long as it runs stages, and a second run waits for it, saying who
// holds it, instead of racing the first (one run's garbage collection once removed another's
// in-flight spool file). An image built locally from nothing (a DinD base, a test stand-in) has a
// lock of its own, one file per tag, so two processes building the same tag wait for each other
// and the second finds the image, while different tags build at once (EnsureImage). A piece of
// the cache written by one process and read by others (a downloaded tool) has one too
// (AcquireFile). It owns the lock files and nothing else under BUILD_DIR or the cache directory.
//
// The lock is flock(2) on an open file: the kernel drops it when the holder exits, however it
// exits, so a killed run never leaves a stale lock behind. The file's content (pid, program,
// start time) is only for the message a waiting run prints.
package buildlock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dindbundler/dindbundler/internal/builddir"
)

// Lock is a held lock; Release gives it up.
type Lock struct{ f *os.File }

// Options tune Acquire. The zero value waits without a limit and reports every 10 s.
type Options struct {
	// Wait is how long to wait for another run to finish; 0 waits until ctx ends.
	Wait time.Duration
	// Report is how often a waiting run says so; 0 means 10 s.
	Report time.Duration
	// Log receives the waiting messages; nil discards them.
	Log io.Writer
}

// Acquire takes the lock of dir (BUILD_DIR, created if missing), waiting while another run
// holds it. It fails when ctx ends or Wait passes, naming the holder.
func Acquire(ctx context.Context, dir string, o Options) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock BUILD_DIR %s: %w", dir, err)
	}
	return acquire(ctx, builddir.Dir(dir).Lock(), "BUILD_DIR "+dir, "or use another BUILD_DIR", o)
}

// AcquireFile takes the lock file path (its directory is created if missing), waiting as o
// says while another process or goroutine holds it; what names the guarded thing in messages
// ("the compose plugin cache …").
func AcquireFile(ctx context.Context, path, what string, o Options) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", what, err)
	}
	return acquire(ctx, path, what, "or stop the other run", o)
}

// acquire takes the flock of path, the lock of what (for messages), waiting as o says; advice
// ends the message of a wait that ran out.
func acquire(ctx context.Context, path, what, advice string, o Options) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: open %s: %w", what, path, err)
	}
	report := o.Report
	if report <= 0 {
		report = 10 * time.Second
	}
	start := time.Now()
	var lastReport time.Time
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: flock %s: %w", what, path, err)
		}
		holder := readHolder(path)
		if o.Wait > 0 && time.Since(start) >= o.Wait {
			f.Close()
			return nil, fmt.Errorf("%s is in use by another run (%s) since more than %s: wait for it to end, %s", what, holder, o.Wait, advice)
		}
		if o.Log != nil && time.Since(lastReport) >= report {
			fmt.Fprintf(o.Log, "waiting for %s: another run holds it (%s)\n", what, holder)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for %s (held by %s): %w", what, holder, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Who holds it, for the message another run prints while it waits.
	info := fmt.Sprintf("pid %d %s, since %s", os.Getpid(), filepath.Base(os.Args[0]), time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(info+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up. It is safe on a nil Lock and to call twice.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
	l.f = nil
}

func readHolder(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(strings.TrimSpace(string(data))) == 0 {
		return "holder unknown"
	}
	return strings.TrimSpace(string(data))
}

// Image is one image a process builds locally from nothing unless the engine has it.
type Image struct {
	Tag string
	// Dir holds the lock files, one per tag; "" is DefaultDir().
	Dir string
	// Have reports whether the engine has the image already (false to force a build).
	Have func(context.Context) (bool, error)
	// Build makes it; it runs holding the tag's lock.
	Build func(context.Context) error
}

// EnsureImage builds img unless img.Have finds it: it takes the tag's lock (waiting, as o says,
// while another process or goroutine holds it), asks Have again — the holder has usually just
// built it — and only then runs Build. built reports whether this call built the image.
func EnsureImage(ctx context.Context, img Image, o Options) (built bool, err error) {
	if have, err := img.Have(ctx); err != nil || have {
		return false, err
	}
	dir := img.Dir
	if dir == "" {
		if dir, err = DefaultDir(); err != nil {
			return false, fmt.Errorf("build image %s: %w", img.Tag, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("build image %s: lock directory: %w", img.Tag, err)
	}
	lock, err := acquire(ctx, filepath.Join(dir, ImageLockName(img.Tag)), "image "+img.Tag, "or remove the other build", o)
	if err != nil {
		return false, fmt.Errorf("build image %s: %w", img.Tag, err)
	}
	defer lock.Release()
	if have, err := img.Have(ctx); err != nil || have {
		return false, err
	}
	if err := img.Build(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// DefaultDir is where image locks live unless the caller names a directory: the user's cache
// directory, shared by every process of this user on this machine.
func DefaultDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a cache directory for the image locks (set XDG_CACHE_HOME or HOME): %w", err)
	}
	return filepath.Join(base, "dindbundler", "image-locks"), nil
}

// ImageLockName is the lock file of tag: the tag made a file name (readable in `ls`), then a
// short hash of the tag itself, so tags that differ only in replaced characters never share a
// lock.
func ImageLockName(tag string) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, tag)
	sum := sha256.Sum256([]byte(tag))
	return safe + "-" + hex.EncodeToString(sum[:4]) + ".lock"
}
