package engine

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/go-units"
)

// Meter shows how far a long copy has come (layers exported, compressed, loaded): bytes done of
// the total, rate and time left. On a terminal one line is redrawn in place by Docker's own
// progress bar (jsonmessage); elsewhere a plain line is printed at most every quietInterval, so
// a CI log gets a heartbeat, not a flood. Done prints the closing line. A Meter is safe for
// concurrent use.
type Meter struct {
	out      io.Writer
	terminal bool
	what     string // e.g. "save: exporting 3 images"
	total    int64  // 0 when unknown
	now      func() time.Time

	mu    sync.Mutex
	done  int64
	start time.Time
	shown time.Time
}

// NewMeter starts a meter for what on progress (nil: quiet); total may be 0 when unknown.
func NewMeter(progress io.Writer, what string, total int64) *Meter {
	_, isTerminal := terminal(progress)
	return &Meter{out: progress, terminal: isTerminal, what: what, total: total, now: time.Now}
}

// Reader counts what is read through r.
func (m *Meter) Reader(r io.Reader) io.Reader { return meterReader{r: r, m: m} }

type meterReader struct {
	r io.Reader
	m *Meter
}

func (mr meterReader) Read(p []byte) (int, error) {
	n, err := mr.r.Read(p)
	mr.m.Add(int64(n))
	return n, err
}

// Add counts n more bytes done.
func (m *Meter) Add(n int64) {
	if m == nil || m.out == nil || n <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.start.IsZero() {
		m.start = now
	}
	m.done += n
	every := quietInterval
	if m.terminal {
		every = 100 * time.Millisecond
	}
	if now.Sub(m.shown) < every {
		return
	}
	m.shown = now
	if m.terminal {
		jm := jsonmessage.JSONMessage{Status: m.what, Progress: &jsonmessage.JSONProgress{Current: m.done, Total: m.total, Start: m.start.Unix()}}
		_ = jm.Display(m.out, true)
		return
	}
	fmt.Fprintln(m.out, m.line(now))
}

// line is the plain progress line: done of total, rate, time left.
func (m *Meter) line(now time.Time) string {
	elapsed := now.Sub(m.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(m.done) / elapsed
	}
	s := m.what + ": " + units.BytesSize(float64(m.done))
	if m.total > 0 {
		s += fmt.Sprintf(" of %s (%d%%)", units.BytesSize(float64(m.total)), m.done*100/m.total)
	}
	if rate > 0 {
		s += ", " + units.BytesSize(rate) + "/s"
		if m.total > m.done {
			left := time.Duration(float64(m.total-m.done) / rate * float64(time.Second))
			s += fmt.Sprintf(", about %s left", left.Round(time.Second))
		}
	}
	return s
}

// Done prints the closing line: everything done, how long it took and the rate.
func (m *Meter) Done() {
	if m == nil || m.out == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done == 0 {
		return // nothing was copied: the stage's own line says why
	}
	elapsed := m.now().Sub(m.start)
	line := fmt.Sprintf("%s: %s in %.1fs", m.what, units.BytesSize(float64(m.done)), elapsed.Seconds())
	if elapsed > 0 {
		line += fmt.Sprintf(" (%s/s)", units.BytesSize(float64(m.done)/elapsed.Seconds()))
	}
	if m.terminal {
		fmt.Fprint(m.out, "\x1b[2K\r") // over the bar
	}
	fmt.Fprintln(m.out, line)
}
