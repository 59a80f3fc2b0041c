package buildkit

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	bkclient "github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"

	"github.com/dindbundler/dindbundler/internal/engine"
)

// View shows the progress of concurrent builds as today's classic builds show theirs: one line
// per build, naming its current step, rewritten in place on a terminal and printed at most every
// engine.QuietInterval elsewhere, closed by "built in Ns (N steps, M cached)"; a failed build
// shows the output of its failing step. With engine.Verbose every log line is shown.
type View struct {
	lines    *engine.Lines
	terminal bool
	verbose  bool
	now      func() time.Time
}

// NewView shows builds on progress (nil is quiet). Close it when the builds are done.
func NewView(progress io.Writer) *View {
	return &View{lines: engine.NewLines(progress), terminal: engine.IsTerminal(progress), verbose: engine.IsVerbose(progress), now: time.Now}
}

// Print shows a line of the caller's among the builds' lines (a builder lost mid-run).
func (v *View) Print(text string) { v.lines.Print(text) }

// Requeued closes the line of a build whose builder, where, was lost (its LostError): the
// image goes back to the queue, for another builder if one is left.
func (v *View) Requeued(what, where string) {
	v.lines.Set(what, "moved: "+where+" was lost; requeued for another builder")
}

// Close waits until everything is shown.
func (v *View) Close() error { return v.lines.Close() }

// maxLog bounds the output kept per step, for a failure message.
const maxLog = 64 << 10

// vertexState is what the status stream said of one vertex.
type vertexState struct {
	name              string
	started, finished bool
	startedAt         time.Time
	cached            bool
	err               string
	log               []byte
}

// tracker follows one build's status stream.
type tracker struct {
	v         *View
	what      string
	mu        sync.Mutex
	start     time.Time
	lastShown time.Time
	vertexes  map[digest.Digest]*vertexState
	order     []digest.Digest
}

func (v *View) track(what string) *tracker {
	return &tracker{v: v, what: what, start: v.now(), vertexes: map[digest.Digest]*vertexState{}}
}

// isStep reports whether a vertex is a Dockerfile step ("[2/5] COPY …", "[build 1/3] RUN …"),
// rather than BuildKit's own work ("[internal] load build definition", "[auth] …", exporting).
func isStep(name string) bool {
	return strings.HasPrefix(name, "[") && !strings.HasPrefix(name, "[internal]") && !strings.HasPrefix(name, "[auth]")
}

func (t *tracker) update(s *bkclient.SolveStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, vx := range s.Vertexes {
		st, ok := t.vertexes[vx.Digest]
		if !ok {
			st = &vertexState{}
			t.vertexes[vx.Digest] = st
			t.order = append(t.order, vx.Digest)
		}
		st.name = vx.Name
		st.cached = st.cached || vx.Cached
		if vx.Error != "" {
			st.err = vx.Error
		}
		if vx.Started != nil && !st.started {
			st.started, st.startedAt = true, *vx.Started
			if isStep(vx.Name) && (t.v.terminal || t.lastShown.IsZero() || t.v.now().Sub(t.lastShown) >= engine.QuietInterval) {
				t.lastShown = t.v.now()
				t.v.lines.Set(t.what, shorten(vx.Name, 70))
			}
		}
		if vx.Completed != nil && !st.finished {
			st.finished = true
			if t.v.verbose && isStep(vx.Name) {
				// mage -v: every step's end, as BuildKit's plain progress says it.
				word := "DONE"
				if st.cached {
					word = "CACHED"
				}
				t.v.lines.Print(fmt.Sprintf("%s: %s %s\n", t.what, word, vx.Name))
			}
		}
	}
	for _, l := range s.Logs {
		st, ok := t.vertexes[l.Vertex]
		if !ok {
			continue
		}
		st.log = append(st.log, l.Data...)
		if len(st.log) > maxLog {
			st.log = st.log[len(st.log)-maxLog:]
		}
		if t.v.verbose {
			t.v.lines.Print(prefixLines(t.what+": ", string(l.Data)))
		}
	}
}

// finish closes the build's line (or shows its failing step's output) and says what ran.
func (t *tracker) finish(err error) Steps {
	t.mu.Lock()
	defer t.mu.Unlock()
	var steps Steps
	for _, d := range t.order {
		st := t.vertexes[d]
		if !isStep(st.name) {
			continue
		}
		steps.Total++
		if st.cached {
			steps.Cached = append(steps.Cached, st.name)
		} else if st.finished {
			steps.Ran = append(steps.Ran, Step{Name: st.name, Vertex: d.String(), Started: st.startedAt})
		}
	}
	if err == nil {
		t.v.lines.Set(t.what, fmt.Sprintf("built in %.1fs (%d steps, %d cached)", t.v.now().Sub(t.start).Seconds(), steps.Total, len(steps.Cached)))
		return steps
	}
	if lost := (*LostError)(nil); errors.As(err, &lost) {
		return steps // not the image's failure: the caller says where it goes (Requeued)
	}
	for _, d := range t.order {
		if st := t.vertexes[d]; st.err != "" && len(st.log) > 0 {
			steps.Failed = string(st.log)
			if !t.v.verbose {
				t.v.lines.Print(prefixLines(t.what+": ", fmt.Sprintf("%s failed; its output:\n%s", st.name, st.log)))
			}
		}
	}
	t.v.lines.Set(t.what, "failed after "+fmt.Sprintf("%.1fs", t.v.now().Sub(t.start).Seconds()))
	return steps
}

// prefixLines puts prefix before every line of text, which then ends with a newline.
func prefixLines(prefix, text string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + strings.TrimRight(l, "\r")
	}
	return strings.Join(lines, "\n") + "\n"
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
