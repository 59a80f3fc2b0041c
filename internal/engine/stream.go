package engine

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/moby/term"
)

// display renders a JSON message stream (pull, build) on progress and returns the first error
// the stream carries: the engine reports most failures inside an HTTP 200 stream, so a stream
// that is only drained would hide them. A nil progress means quiet. aux, if not nil, receives the
// out-of-band messages (the build's image ID).
func display(stream io.Reader, progress io.Writer, aux func(json.RawMessage)) error {
	if progress == nil {
		progress = io.Discard
	}
	// Cursor movement only makes sense on a terminal; anything else (a log file, a buffer) gets
	// plain lines without the progress bars.
	fd, isTerminal := term.GetFdInfo(progress)
	var onAux func(jsonmessage.JSONMessage)
	if aux != nil {
		onAux = func(jm jsonmessage.JSONMessage) { aux(*jm.Aux) }
	}
	return jsonmessage.DisplayJSONMessagesStream(&errorDetail{r: stream}, progress, fd, isTerminal, onAux)
}

// errorDetail passes a message stream through unchanged. It exists for one reason: the
// renderer only fails on "errorDetail", and an engine that sent only the older "error" field
// would otherwise go unnoticed. Every engine since API 1.4 sends both, so this only normalises
// messages; it does not buffer the stream.
type errorDetail struct {
	r   io.Reader
	dec *json.Decoder
	buf []byte
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
		b, err := json.Marshal(jm)
		if err != nil {
			return 0, err
		}
		e.buf = b
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	return n, nil
}
