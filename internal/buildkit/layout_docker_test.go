package buildkit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/buildkit"
	"github.com/dindbundler/dindbundler/internal/buildkit/buildkittest"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/ocilayout"
)

func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }

// TestStandaloneBuildkitdImageSkipsTheHeap: a buildkitd builds an image of 192 MiB (random, so
// its layer is as big) into an engine that loads at 16 MB/s, slower than buildkitd sends — as an
// Engine 28.5 on the containerd store over tcp does. Neither the blobs crossing the session
// into the OCI layout nor the load archive streamed from its files pile up in the process: its
// heap grows by far less than the image (it grew by the archive and more when the archive went
// from the session to the engine through a pipe).
func TestStandaloneBuildkitdImageSkipsTheHeap(t *testing.T) {
	bin := buildkittest.Binary(t)
	enginetest.Each(t, func(t *testing.T, e enginetest.Engine, api *engine.Engine) {
		is := is.New(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		d := buildkittest.Start(t, bin)
		bk, err := connectStandalone(t, ctx, slowLoads{APIClient: api, bytesPerSecond: 16e6}, d.Addr)
		is.NoErr(err)
		defer bk.Close()

		const size = 192 << 20
		name := fmt.Sprintf("dindbundlertest-bkheap-%d:test", os.Getpid())
		enginetest.Cleanup(t, api, name)
		dir := t.TempDir()
		is.NoErr(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY blob /blob\n"), 0o644))
		is.NoErr(writeRandom(filepath.Join(dir, "blob"), size, 7))

		peak := sampleMemory(t)
		view := buildkit.NewView(nil)
		start := time.Now()
		id, _, err := bk.Build(ctx, buildkit.Build{Name: name, ContextDir: dir}, view)
		is.NoErr(view.Close())
		is.NoErr(err)
		heap, rss := peak()
		t.Logf("%s: built and loaded %d MiB in %s; heap in use grew by at most %.1f MB, RSS peaked at %.1f MB",
			e.Name, size>>20, time.Since(start).Round(time.Second), float64(heap)/1e6, float64(rss)/1e6)
		info, err := api.ImageInspect(ctx, id)
		is.NoErr(err)
		is.True(info.Size >= size) // the whole image arrived
		is.True(heap < 48<<20)     // a quarter of the image
	})
}

// slowLoads is an engine whose image loads read at most bytesPerSecond.
type slowLoads struct {
	client.APIClient
	bytesPerSecond float64
}

func (s slowLoads) ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (image.LoadResponse, error) {
	return s.APIClient.ImageLoad(ctx, &paced{r: input, bytesPerSecond: s.bytesPerSecond, start: time.Now()}, opts...)
}

type paced struct {
	r              io.Reader
	bytesPerSecond float64
	start          time.Time
	read           int64
}

func (p *paced) Read(b []byte) (int, error) {
	due := p.start.Add(time.Duration(float64(p.read) / p.bytesPerSecond * float64(time.Second)))
	time.Sleep(time.Until(due))
	n, err := p.r.Read(b[:min(len(b), 64<<10)])
	p.read += int64(n)
	return n, err
}

// sampleMemory samples the process's heap in use and resident size every 50 ms until the
// returned function is called, which reports the heap's largest growth over its first sample
// and the largest resident size.
func sampleMemory(t *testing.T) func() (heapGrowth, rss int64) {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := int64(ms.HeapInuse)
	var (
		mu             sync.Mutex
		maxHeap, maxRS int64
	)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			rs := residentSize()
			mu.Lock()
			maxHeap, maxRS = max(maxHeap, int64(ms.HeapInuse)-base), max(maxRS, rs)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() (int64, int64) {
		close(done)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		return maxHeap, maxRS
	}
}

// residentSize is the process's resident set (VmRSS), 0 where /proc does not say.
func residentSize() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestStandaloneBuildkitdLoadFailure: the engine breaks the connection part-way through an
// image's archive (as an Engine 28.5 did once, "broken pipe"). The build fails with the
// engine's error — naming the image, the builder and the engine — not with BuildKit's echo of
// it, and the buildkitd still answers: the next build may go on.
func TestStandaloneBuildkitdLoadFailure(t *testing.T) {
	bin := buildkittest.Binary(t)
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d := buildkittest.Start(t, bin)
	bk, err := connectStandalone(t, ctx, brokenLoads{APIClient: api, after: 4 << 20}, d.Addr)
	is.NoErr(err)
	defer bk.Close()

	name := fmt.Sprintf("dindbundlertest-bkbroken-%d:test", os.Getpid())
	enginetest.Cleanup(t, api, name)
	dir := t.TempDir()
	is.NoErr(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY blob /blob\n"), 0o644))
	is.NoErr(writeRandom(filepath.Join(dir, "blob"), 32<<20, 8))
	view := buildkit.NewView(nil)
	_, _, err = bk.Build(ctx, buildkit.Build{Name: name, ContextDir: dir}, view)
	is.NoErr(view.Close())
	is.True(err != nil)
	t.Log(err)
	is.True(errors.Is(err, syscall.EPIPE))
	for _, want := range []string{name, "BUILDKIT_HOST=" + d.Addr, api.DaemonHost(), "after 4.2 MB", "the engine closed the connection"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q", want)
		}
	}
	is.NoErr(bk.Answers(ctx, 10*time.Second))
}

// brokenLoads is an engine whose image loads read after bytes, then fail as a connection the
// engine closed does.
type brokenLoads struct {
	client.APIClient
	after int64
}

func (b brokenLoads) ImageLoad(ctx context.Context, input io.Reader, _ ...client.ImageLoadOption) (image.LoadResponse, error) {
	if _, err := io.CopyN(io.Discard, input, b.after); err != nil {
		return image.LoadResponse{}, err
	}
	return image.LoadResponse{}, &url.Error{Op: "Post", URL: b.DaemonHost() + "/images/load",
		Err: &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}}
}

// writeRandom writes size random bytes (incompressible: the image's archive is as big) to path,
// streamed, so the test's resident size does not hold them.
func writeRandom(path string, size int64, seed byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.NewChaCha8([32]byte{seed}), size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// connectStandalone connects to the buildkitd at host, its images going through an OCI layout
// of the test's into the engine api.
func connectStandalone(t *testing.T, ctx context.Context, api client.APIClient, host string) (*buildkit.Builder, error) {
	t.Helper()
	bk, err := buildkit.Connect(ctx, api, host)
	if err != nil {
		return nil, err
	}
	layout, err := ocilayout.Open(filepath.Join(t.TempDir(), "oci-layout"))
	if err != nil {
		bk.Close()
		return nil, err
	}
	t.Cleanup(func() { layout.Close() })
	bk.LoadThrough(ocilayout.NewLoader(layout, engine.Of(api)))
	return bk, nil
}
