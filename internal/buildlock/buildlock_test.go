package buildlock_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/buildlock"
)

// A second run waits while the first holds BUILD_DIR, says who holds it, and goes on once the
// first releases.
func TestSecondRunWaitsAndNamesTheHolder(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	first, err := buildlock.Acquire(context.Background(), dir, buildlock.Options{})
	is.NoErr(err)

	var log syncBuffer
	got := make(chan error, 1)
	go func() {
		second, err := buildlock.Acquire(context.Background(), dir, buildlock.Options{Log: &log, Report: 50 * time.Millisecond})
		second.Release()
		got <- err
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("second run did not wait: %v", err)
	default:
	}
	is.True(strings.Contains(log.String(), fmt.Sprintf("pid %d", os.Getpid()))) // the waiting run names the holder
	first.Release()
	select {
	case err := <-got:
		is.NoErr(err) // the second run proceeds once the first is done
	case <-time.After(5 * time.Second):
		t.Fatal("second run still waiting after the first released")
	}
}

// Waiting is bounded: past Wait the run fails, naming the directory and the holder; a cancelled
// context ends the wait too.
func TestWaitIsBounded(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	first, err := buildlock.Acquire(context.Background(), dir, buildlock.Options{})
	is.NoErr(err)
	defer first.Release()

	_, err = buildlock.Acquire(context.Background(), dir, buildlock.Options{Wait: 200 * time.Millisecond})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), dir))
	is.True(strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())))

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = buildlock.Acquire(ctx, dir, buildlock.Options{})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "deadline exceeded"))
}

// Release is idempotent, and the lock can be taken again after it.
func TestReleaseThenAcquireAgain(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	l, err := buildlock.Acquire(context.Background(), dir, buildlock.Options{})
	is.NoErr(err)
	l.Release()
	l.Release()
	var nilLock *buildlock.Lock
	nilLock.Release()
	again, err := buildlock.Acquire(context.Background(), dir, buildlock.Options{Wait: time.Second})
	is.NoErr(err)
	again.Release()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Another process holding BUILD_DIR is waited for and named; when it is killed, the kernel drops
// its lock and the waiting run goes on (no stale lock after a crash).
func TestAnotherProcessHoldsTheLock(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	holder := exec.Command(os.Args[0], "-test.run=^TestHoldLockHelper$")
	holder.Env = append(os.Environ(), "BUILDLOCK_HOLD_DIR="+dir)
	stdout, err := holder.StdoutPipe()
	is.NoErr(err)
	is.NoErr(holder.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	is.NoErr(err)
	is.Equal(strings.TrimSpace(line), "held")

	_, err = buildlock.Acquire(context.Background(), dir, buildlock.Options{Wait: 300 * time.Millisecond})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), fmt.Sprintf("pid %d", holder.Process.Pid))) // names the other process

	is.NoErr(holder.Process.Kill())
	_ = holder.Wait()
	l, err := buildlock.Acquire(context.Background(), dir, buildlock.Options{Wait: 5 * time.Second})
	is.NoErr(err) // the killed holder left no stale lock
	l.Release()
}

// TestHoldLockHelper is the other process of TestAnotherProcessHoldsTheLock.
func TestHoldLockHelper(t *testing.T) {
	dir := os.Getenv("BUILDLOCK_HOLD_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	if _, err := buildlock.Acquire(context.Background(), dir, buildlock.Options{}); err != nil {
		t.Fatal(err)
	}
	fmt.Println("held")
	time.Sleep(time.Minute)
}

// A cache file's lock creates its directory, keeps a second holder out until the first
// releases, and names what it guards when a bounded wait runs out.
func TestAcquireFile(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "compose", "plugin.lock")
	first, err := buildlock.AcquireFile(context.Background(), path, "the compose plugin cache", buildlock.Options{})
	is.NoErr(err)

	_, err = buildlock.AcquireFile(context.Background(), path, "the compose plugin cache", buildlock.Options{Wait: 200 * time.Millisecond})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "the compose plugin cache is in use by another run"))

	first.Release()
	second, err := buildlock.AcquireFile(context.Background(), path, "the compose plugin cache", buildlock.Options{Wait: time.Second})
	is.NoErr(err)
	second.Release()
}
