package engine

import "io"

// Tee is a progress writer that also passes what is written to w on to also (a caller keeping
// the tail of a build's output, say), while keeping what the renderers look for in w: its
// terminal (Fd) and whether it is Verbose.
func Tee(w, also io.Writer) io.Writer {
	if w == nil {
		w = io.Discard
	}
	t := teeWriter{Writer: io.MultiWriter(w, also), fd: w}
	if isVerbose(w) {
		return verboseWriter{t}
	}
	return t
}

type teeWriter struct {
	io.Writer
	fd io.Writer
}

// Fd keeps terminal detection working through the tee.
func (t teeWriter) Fd() uintptr {
	if f, ok := t.fd.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}
