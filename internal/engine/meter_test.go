package engine

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

func TestMeterAwayFromATerminal(t *testing.T) {
	is := is.New(t)
	var out bytes.Buffer
	m := NewMeter(&out, "save: exporting 2 images", 100<<20)
	is.True(!m.terminal)
	m.now = fakeClock(2 * time.Second) // every reading 2 s later
	// 10 MiB every 2 s: a line at most every 5 s, so every third step or so.
	for range 10 {
		m.Add(10 << 20)
	}
	m.Done()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	is.True(len(lines) >= 3 && len(lines) <= 6)                                             // a heartbeat, not a line per read
	is.True(strings.Contains(lines[0], "of 100MiB"))                                        // done of total
	is.True(strings.Contains(out.String(), "/s, about "))                                   // rate and time left
	is.True(strings.HasPrefix(lines[len(lines)-1], "save: exporting 2 images: 100MiB in ")) // the closing line
}

func TestMeterOnATerminalRedrawsOneLine(t *testing.T) {
	is := is.New(t)
	var out bytes.Buffer
	m := &Meter{out: &out, terminal: true, what: "image: loading layers", total: 50 << 20, now: fakeClock(time.Second)}
	for range 5 {
		m.Add(10 << 20)
	}
	m.Done()
	is.Equal(strings.Count(out.String(), "\n"), 1) // one line on the screen
	is.True(strings.Contains(out.String(), "\r"))  // redrawn in place
	is.True(strings.Contains(out.String(), "image: loading layers: 50MiB in"))
}

func TestMeterQuietWhenNothingOrNoOutput(t *testing.T) {
	is := is.New(t)
	var out bytes.Buffer
	NewMeter(&out, "save", 10).Done()
	is.Equal(out.String(), "") // nothing copied: no line
	var nilMeter *Meter
	nilMeter.Add(5)
	nilMeter.Done()
	NewMeter(nil, "save", 10).Add(3)
}

// Reader counts every byte read through it.
func TestMeterReaderCounts(t *testing.T) {
	is := is.New(t)
	m := NewMeter(io.Discard, "x", 0)
	n, err := io.Copy(io.Discard, m.Reader(bytes.NewReader(make([]byte, 3<<20+17))))
	is.NoErr(err)
	is.Equal(n, int64(3<<20+17))
	is.Equal(m.done, n)
}
