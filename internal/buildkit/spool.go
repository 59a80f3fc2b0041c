package buildkit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// spool carries an image's archive from a standalone buildkitd to the engine through an unlinked
// temporary file, which the load reads while BuildKit still writes it.
//
// Why not a pipe: the archive reaches this process over the session's gRPC server, which
// BuildKit serves with grpc-go's http.Handler transport (session/grpc.go: http2.Server.ServeConn
// with the grpc.Server as handler). That transport reads each request body ahead, as fast as the
// connection delivers it, into an unbounded queue, and has no flow control
// (grpc-go internal/transport/handler_server.go, HandleStreams; grpc/grpc-go#7261): a writer that
// blocks — a pipe to an engine that loads slower than buildkitd sends — does not slow
// buildkitd, it grows that queue, to the whole archive and beyond (1.2 GB of RSS for six
// 454 MB images). A file accepts the archive as fast as it arrives: the queue stays empty and the
// process keeps a few buffers, while the file's pages stay in the kernel's page cache (or on
// disk), not in the process.
type spool struct {
	f   *os.File
	dir string // where f was made, for messages

	mu      sync.Mutex
	changed *sync.Cond // signalled on every write and on either end's close
	written int64      // bytes in f, all readable
	// ended: BuildKit's part is over; endErr is why it ended early (nil: the archive is whole).
	ended  bool
	endErr error
	// stopped: the load stopped reading; stopErr is why (nil: it read what it needed).
	stopped bool
	stopErr error
	opened  bool // the exporter asked for its output once
}

// newSpool makes a spool in dir ("" the system's temporary directory). Its file is unlinked at
// once: a killed run leaves nothing behind, and the space is freed when the spool is closed.
func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "dindbundler-image-*.tar")
	if err != nil {
		return nil, fmt.Errorf("make a file for the image's archive: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("make a file for the image's archive: %w", err)
	}
	s := &spool{f: f, dir: filepath.Dir(f.Name())}
	s.changed = sync.NewCond(&s.mu)
	return s, nil
}

// output is the exporter's Output: the spool's writing end. Its Close does not end the archive:
// BuildKit closes it also when the transfer fails part-way (filesync's SyncTarget.DiffCopy), so
// only Solve's result, given to end, says whether the archive is whole.
func (s *spool) output(map[string]string) (io.WriteCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened {
		return nil, errors.New("the exporter sent a second archive for one image")
	}
	s.opened = true
	return spoolWriter{s}, nil
}

type spoolWriter struct{ s *spool }

// Write appends p; it fails once the load has stopped reading, which ends the transfer and the
// build. One goroutine writes (the session's handler for the export).
func (w spoolWriter) Write(p []byte) (int, error) {
	s := w.s
	s.mu.Lock()
	stopped, stopErr := s.stopped, s.stopErr
	s.mu.Unlock()
	if stopped {
		if stopErr == nil {
			stopErr = io.ErrClosedPipe
		}
		return 0, fmt.Errorf("the engine stopped reading the image: %w", stopErr)
	}
	n, err := s.f.Write(p)
	s.mu.Lock()
	s.written += int64(n)
	s.changed.Broadcast()
	s.mu.Unlock()
	if err != nil {
		return n, fmt.Errorf("spool the image's archive in %s: %w", s.dir, err)
	}
	return n, nil
}

func (spoolWriter) Close() error { return nil }

// end says BuildKit's part is over: err nil means the archive is whole (the reader then sees its
// end), else the reader fails with err.
func (s *spool) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.ended, s.endErr = true, err
		s.changed.Broadcast()
	}
}

// reader returns the spool's reading end, from the archive's start. One goroutine reads.
func (s *spool) reader() *spoolReader { return &spoolReader{s: s} }

type spoolReader struct {
	s   *spool
	off int64 // bytes read
}

// Read waits for bytes past what it has read, the archive's end (io.EOF) or the build's error.
func (r *spoolReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s := r.s
	s.mu.Lock()
	for r.off == s.written && !s.ended && !s.stopped {
		s.changed.Wait()
	}
	written, ended, endErr, stopped := s.written, s.ended, s.endErr, s.stopped
	s.mu.Unlock()
	switch {
	case stopped:
		return 0, io.ErrClosedPipe
	case r.off < written:
		n, err := s.f.ReadAt(p[:min(int64(len(p)), written-r.off)], r.off)
		r.off += int64(n)
		if err != nil {
			return n, fmt.Errorf("read the spooled image archive: %w", err)
		}
		return n, nil
	case ended && endErr != nil:
		return 0, endErr
	default:
		return 0, io.EOF
	}
}

// stop says the load is over (err nil: it read what it needed): later writes fail with err. It
// reports whether the build had failed by then: a load that fails after that (it read the
// build's error, or the build's end cancelled it) failed because of the build, not on its own.
func (r *spoolReader) stop(err error) (buildFailed bool) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stopped, s.stopErr = true, err
		s.changed.Broadcast()
	}
	return s.ended && s.endErr != nil
}

// Close frees the file; call it once both ends are done.
func (s *spool) Close() error { return s.f.Close() }
