package engine

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/moby/term"
)

// display renders a JSON message stream (pull, build, load, import) on progress and returns the
// first error the stream carries: the engine reports most failures inside an HTTP 200 stream, so
// a stream that is only drained would hide them. A nil progress means quiet. aux, if not nil,
// receives the out-of-band messages (the build's image ID).
func display(stream io.Reader, progress io.Writer, aux func(json.RawMessage)) error {
	return render(stream, progress, func(jm jsonmessage.JSONMessage) {
		if aux != nil && jm.Aux != nil {
			aux(*jm.Aux)
		}
	})
}

// render is display with every message handed to each (when not nil) as it is read, before it
// is rendered; it is the one renderer of message streams in the project.
func render(stream io.Reader, progress io.Writer, each func(jsonmessage.JSONMessage)) error {
	return renderAs(stream, progress, each, nil)
}

// renderAs is render with the messages rewritten by transform (when not nil) before they are
// shown: how a build's output is condensed.
func renderAs(stream io.Reader, progress io.Writer, each func(jsonmessage.JSONMessage), transform func(jsonmessage.JSONMessage) []jsonmessage.JSONMessage) error {
	if progress == nil {
		progress = io.Discard
	}
	// Cursor movement only makes sense on a terminal; anything else (a log file, a buffer) gets
	// plain lines without the progress bars.
	fd, isTerminal := terminal(progress)
	return jsonmessage.DisplayJSONMessagesStream(&errorDetail{r: stream, each: each, transform: transform}, progress, fd, isTerminal, nil)
}

// terminal reports whether w is a terminal, also through wrappers that pass their file's Fd on
// (a stage's log recorder, Verbose): term.GetFdInfo only recognises an *os.File itself.
func terminal(w io.Writer) (uintptr, bool) {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	fd := f.Fd()
	return fd, term.IsTerminal(fd)
}

// errorDetail passes a message stream through unchanged, showing each message to each. It exists
// because the renderer only fails on "errorDetail", and an engine that sent only the older
// "error" field would otherwise go unnoticed. Every engine since API 1.4 sends both, so this only
// normalises messages; it does not buffer the stream.
type errorDetail struct {
	r         io.Reader
	each      func(jsonmessage.JSONMessage)
	transform func(jsonmessage.JSONMessage) []jsonmessage.JSONMessage
	dec       *json.Decoder
	buf       []byte
}

func (e *errorDetail) Read(p []byte) (int, error) {
	if e.dec == nil {
		e.dec = json.NewDecoder(e.r)
	}
	for len(e.buf) == 0 {
		var jm jsonmessage.JSONMessage
		if err := e.dec.Decode(&jm); err != nil {
			if err == io.EOF {
				return 0, io.EOF
			}
			return 0, fmt.Errorf("read engine message stream: %w", err)
		}
		if jm.Error == nil && jm.ErrorMessage != "" {
			jm.Error = &jsonmessage.JSONError{Message: jm.ErrorMessage}
		}
		if e.each != nil && jm.Error == nil {
			e.each(jm)
		}
		shown := []jsonmessage.JSONMessage{jm}
		if e.transform != nil {
			shown = e.transform(jm)
		}
		for _, m := range shown {
			b, err := json.Marshal(m)
			if err != nil {
				return 0, err
			}
			e.buf = append(e.buf, b...)
		}
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	return n, nil
}
