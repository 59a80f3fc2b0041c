package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/pkg/jsonmessage"
)

// Verbose marks a progress writer that wants every line a build prints (mage -v), instead of
// the condensed view: one line per build, updated step by step.
func Verbose(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	return verboseWriter{w}
}

type verboseWriter struct{ io.Writer }

// Fd keeps terminal detection working through the wrapper.
func (v verboseWriter) Fd() uintptr {
	if f, ok := v.Writer.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}

func isVerbose(w io.Writer) bool { _, ok := w.(verboseWriter); return ok }

// quietInterval is how often, away from a terminal, a running build may print its step line: a
// CI log gets a line every few seconds per long build, not every step.
const quietInterval = 5 * time.Second

var stepLine = regexp.MustCompile(`^Step (\d+)/(\d+) : (.*)$`)

// buildView condenses the classic builder's output (Step N/M, ---> Running in, Removing
// intermediate container, the commands' own output) to one line for the build, named what: on a
// terminal the line is rewritten in place at each step; elsewhere it is printed at most every
// quietInterval. The output of the step that is running is kept, and shown in full when the
// build fails, so a failure always carries what the failing command said.
type buildView struct {
	what     string
	terminal bool
	now      func() time.Time

	start     time.Time
	steps     int             // N of the last step seen
	output    strings.Builder // the current step's lines, for a failure
	partial   string          // a stream chunk not yet ended by a newline
	lastShown time.Time
}

func newBuildView(what string, progress io.Writer) *buildView {
	_, isTerminal := terminal(progress)
	return &buildView{what: what, terminal: isTerminal, now: time.Now}
}

// transform turns one engine message into what the renderer shows.
func (v *buildView) transform(jm jsonmessage.JSONMessage) []jsonmessage.JSONMessage {
	if v.start.IsZero() {
		v.start = v.now()
	}
	if jm.Error != nil {
		// The failing step's whole output, then the error itself.
		out := []jsonmessage.JSONMessage{}
		if text := v.output.String() + v.partial; text != "" {
			out = append(out, jsonmessage.JSONMessage{Stream: text})
		}
		return append(out, jm)
	}
	if jm.Stream == "" {
		return []jsonmessage.JSONMessage{jm} // aux and the like: not printed
	}
	text := v.partial + jm.Stream
	lines := strings.SplitAfter(text, "\n")
	v.partial = ""
	if last := lines[len(lines)-1]; !strings.HasSuffix(last, "\n") {
		v.partial, lines = last, lines[:len(lines)-1]
	}
	var out []jsonmessage.JSONMessage
	for _, line := range lines {
		if m := stepLine.FindStringSubmatch(strings.TrimRight(line, "\r\n")); m != nil {
			v.output.Reset()
			fmt.Sscan(m[1], &v.steps)
			if v.terminal || v.lastShown.IsZero() || v.now().Sub(v.lastShown) >= quietInterval {
				v.lastShown = v.now()
				out = append(out, v.line("Step "+m[1]+"/"+m[2]+" "+shorten(m[3], 60)))
			}
		}
		if strings.HasPrefix(line, "Successfully built ") {
			out = append(out, v.done())
		}
		v.output.WriteString(line)
	}
	return out
}

// done is the build's closing line.
func (v *buildView) done() jsonmessage.JSONMessage {
	return v.line(fmt.Sprintf("built in %.1fs (%d steps)", v.now().Sub(v.start).Seconds(), v.steps))
}

// line is the build's one line saying status. An empty Progress is what makes the renderer
// rewrite the line in place on a terminal (and print a plain line elsewhere).
func (v *buildView) line(status string) jsonmessage.JSONMessage {
	return jsonmessage.JSONMessage{ID: v.what, Status: status, Progress: &jsonmessage.JSONProgress{}}
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// IsVerbose reports whether w asks for every line a build prints (Verbose).
func IsVerbose(w io.Writer) bool { return isVerbose(w) }

// IsTerminal reports whether w is a terminal, also through wrappers that pass its Fd on.
func IsTerminal(w io.Writer) bool { _, ok := terminal(w); return ok }

// QuietInterval is how often, away from a terminal, a running build may print its step line.
const QuietInterval = quietInterval

// Lines shows the progress of several builds at once with the one message renderer: one line
// per ID, rewritten in place on a terminal, plain lines elsewhere; Print adds text of its own.
// Its methods may be called from several goroutines.
type Lines struct {
	mu   sync.Mutex
	enc  *json.Encoder
	pw   *io.PipeWriter
	done chan error
}

// NewLines starts showing lines on progress (nil is quiet); Close ends it.
func NewLines(progress io.Writer) *Lines {
	pr, pw := io.Pipe()
	l := &Lines{enc: json.NewEncoder(pw), pw: pw, done: make(chan error, 1)}
	go func() {
		err := render(pr, progress, nil)
		pr.CloseWithError(err)
		l.done <- err
	}()
	return l
}

// Set shows status as the line of id.
func (l *Lines) Set(id, status string) {
	l.send(jsonmessage.JSONMessage{ID: id, Status: status, Progress: &jsonmessage.JSONProgress{}})
}

// Print shows text as it is (it should end with a newline).
func (l *Lines) Print(text string) { l.send(jsonmessage.JSONMessage{Stream: text}) }

func (l *Lines) send(m jsonmessage.JSONMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.enc.Encode(m) // after a render failure nothing is shown; Close returns that failure
}

// Close waits until everything sent is shown.
func (l *Lines) Close() error {
	l.mu.Lock()
	l.pw.Close()
	l.mu.Unlock()
	return <-l.done
}
