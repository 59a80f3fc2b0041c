package buildkit

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/matryer/is"
)

// TestSpool: what the load reads is what BuildKit wrote, as it arrives; the build's failure
// reaches the load, and the load's failure reaches BuildKit's next write.
func TestSpool(t *testing.T) {
	errBuild := errors.New("the build failed")
	errLoad := errors.New("the engine failed")
	tests := []struct {
		name       string
		chunks     int   // written, 64 KiB each
		end        error // what Solve returned
		stopBefore error // the load stops after the first chunk with this, before the build ends
		read       error // what the load's read ends with
		write      error // what BuildKit's write after the stop returns (nil: not tried)
		failed     bool  // stop reports that the build had failed
	}{
		{name: "whole archive", chunks: 50, read: io.EOF},
		{name: "empty archive", chunks: 0, read: io.EOF},
		{name: "build fails part-way", chunks: 7, end: errBuild, read: errBuild, failed: true},
		{name: "load fails first", chunks: 1000, stopBefore: errLoad, read: io.ErrClosedPipe, write: errLoad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			dir := t.TempDir()
			s, err := newSpool(dir)
			is.NoErr(err)
			defer s.Close()
			left, err := os.ReadDir(dir)
			is.NoErr(err)
			is.Equal(len(left), 0) // unlinked at once: a killed run leaves nothing

			w, err := s.output(nil)
			is.NoErr(err)
			_, err = s.output(nil)
			is.True(err != nil) // one archive per image

			r := s.reader()
			want := make([]byte, tt.chunks*64<<10)
			rng := rand.NewChaCha8([32]byte{1})
			_, _ = rng.Read(want)
			writeErr := make(chan error, 1)
			go func() {
				for i := range tt.chunks {
					if _, err := w.Write(want[i*64<<10 : (i+1)*64<<10]); err != nil {
						writeErr <- err
						return
					}
					time.Sleep(time.Millisecond) // the reader waits for more, not for the end
				}
				if err := w.Close(); err != nil { // not the end: Solve's result is
					writeErr <- err
					return
				}
				if tt.stopBefore == nil {
					s.end(tt.end)
				}
				writeErr <- nil
			}()

			if tt.stopBefore != nil {
				first := make([]byte, 64<<10)
				_, err := io.ReadFull(r, first)
				is.NoErr(err)
				is.Equal(first, want[:64<<10])
				is.Equal(r.stop(tt.stopBefore), false) // the load failed on its own
				err = <-writeErr
				is.True(errors.Is(err, tt.write)) // BuildKit's write fails with the load's error
				_, err = r.Read(first)
				is.Equal(err, tt.read)
				return
			}
			got, err := io.ReadAll(r)
			if tt.read == io.EOF {
				is.NoErr(err)
				is.True(bytes.Equal(got, want))
			} else {
				is.Equal(err, tt.read)
				is.True(bytes.Equal(got, want)) // all that arrived, then the error
			}
			is.NoErr(<-writeErr)
			is.Equal(r.stop(nil), tt.failed)
		})
	}
}

// TestSpoolKeepsTheArchiveOutOfTheHeap: BuildKit writes an archive of 128 MiB while nothing
// reads it yet (an engine slower than buildkitd); the process's heap does not hold it.
func TestSpoolKeepsTheArchiveOutOfTheHeap(t *testing.T) {
	is := is.New(t)
	s, err := newSpool(t.TempDir())
	is.NoErr(err)
	defer s.Close()
	w, err := s.output(nil)
	is.NoErr(err)
	chunk := make([]byte, 1<<20)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 128 {
		_, err := w.Write(chunk)
		is.NoErr(err)
	}
	s.end(nil)
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use grew by %.1f MB while 128 MiB were spooled", float64(grew)/1e6)
	is.True(grew < 8<<20)
	n, err := io.Copy(io.Discard, s.reader())
	is.NoErr(err)
	is.Equal(n, int64(128<<20))
}

// TestLoadError: a failed load names the engine and how far it read, and a broken connection
// says that the engine's own answer is lost.
func TestLoadError(t *testing.T) {
	b := &Builder{api: engineAt{host: "tcp://engine.test:2375"}}
	brokenPipe := &url.Error{Op: "Post", URL: "http://engine.test:2375/images/load", Err: &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	tests := []struct {
		err  error
		want []string
		lost bool // the message says the engine's answer is lost
	}{
		{err: brokenPipe, want: []string{"tcp://engine.test:2375", "after 12.3 MB", "its log says why", "broken pipe"}, lost: true},
		{err: reset, want: []string{"connection reset"}, lost: true},
		{err: errors.New("Error response from daemon: no space left on device"), want: []string{"after 12.3 MB", "its log says why", "no space left"}},
	}
	for _, tt := range tests {
		is := is.New(t)
		got := b.loadError(12_345_678, tt.err)
		is.True(errors.Is(got, tt.err))
		for _, w := range tt.want {
			if !strings.Contains(got.Error(), w) {
				t.Errorf("%q\nlacks %q", got, w)
			}
		}
		is.Equal(strings.Contains(got.Error(), "the engine closed the connection, and its answer is lost"), tt.lost)
	}
}

// engineAt is an engine known only by its address: the messages name it, nothing calls it.
type engineAt struct {
	client.APIClient
	host string
}

func (e engineAt) DaemonHost() string { return e.host }
