// Package buildlock keeps two runs of the pipeline off one BUILD_DIR: a run holds an exclusive
// lock on BUILD_DIR/.lock for as long as it runs stages, and a second run waits for it, saying
// who holds it, instead of racing the first (one run's garbage collection once removed another's
// in-flight spool file). It owns the lock file and nothing else under BUILD_DIR.
//
// The lock is flock(2) on an open file: the kernel drops it when the holder exits, however it
// exits, so a killed run never leaves a stale lock behind. The file's content (pid, start time)
// is only for the message a waiting run prints.
package buildlock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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
	path := builddir.Dir(dir).Lock()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock BUILD_DIR: open %s: %w", path, err)
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
			return nil, fmt.Errorf("lock BUILD_DIR: flock %s: %w", path, err)
		}
		holder := readHolder(path)
		if o.Wait > 0 && time.Since(start) >= o.Wait {
			f.Close()
			return nil, fmt.Errorf("BUILD_DIR %s is in use by another run (%s) since more than %s: wait for it to end, or use another BUILD_DIR", dir, holder, o.Wait)
		}
		if o.Log != nil && time.Since(lastReport) >= report {
			fmt.Fprintf(o.Log, "waiting for BUILD_DIR %s: another run holds it (%s)\n", dir, holder)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for BUILD_DIR %s (held by %s): %w", dir, holder, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Who holds it, for the message another run prints while it waits.
	info := fmt.Sprintf("pid %d, since %s", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
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
