package engine

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/matryer/is"
)

// A classic-builder stream as the engine sends it: three steps, one with command output.
const buildStream = `{"stream":"Step 1/3 : FROM scratch\n"}
{"stream":" ---\u003e \n"}
{"stream":"Step 2/3 : COPY app /app\n"}
{"stream":" ---\u003e 1a2b\n"}
{"stream":"Step 3/3 : RUN make\n"}
{"stream":" ---\u003e Running in 9f8e\n"}
{"stream":"compiling\n"}
{"stream":"Removing intermediate container 9f8e\n"}
{"stream":"Successfully built 3c4d\n"}
{"stream":"Successfully tagged app:1\n"}
{"aux":{"ID":"sha256:3c4d"}}
`

func renderBuild(t *testing.T, stream string, terminal bool, clock func() time.Time) (string, error) {
	t.Helper()
	var out bytes.Buffer
	v := &buildView{what: "app:1", terminal: terminal, now: clock}
	err := renderAs(strings.NewReader(stream), &out, nil, v.transform)
	return out.String(), err
}

// fakeClock advances by step on every reading.
func fakeClock(step time.Duration) func() time.Time {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(step); return t }
}

func TestBuildViewCondenses(t *testing.T) {
	tests := []struct {
		name     string
		stream   string
		clock    time.Duration
		want     []string // lines, in order
		wantErr  string
		wantNone []string
	}{
		{
			name:   "quick build away from a terminal: the first step and the closing line",
			stream: buildStream, clock: time.Second,
			want:     []string{"app:1: Step 1/3 FROM scratch", "app:1: built in"},
			wantNone: []string{"Running in", "Removing intermediate", "compiling", "Step 2/3", "Successfully"},
		},
		{
			name:   "slow build: a step line every few seconds",
			stream: buildStream, clock: 3 * time.Second,
			want: []string{"app:1: Step 1/3 FROM scratch", "app:1: Step 3/3 RUN make", "(3 steps)"},
		},
		{
			name:    "a failing step shows its whole output, then the error",
			stream:  `{"stream":"Step 1/2 : FROM scratch\n"}{"stream":"Step 2/2 : RUN make\n"}{"stream":" ---\u003e Running in 9f8e\n"}{"stream":"make: *** no rule\n"}{"errorDetail":{"message":"returned a non-zero code: 2"},"error":"returned a non-zero code: 2"}`,
			clock:   time.Second,
			want:    []string{"Step 2/2 : RUN make", "make: *** no rule"},
			wantErr: "non-zero code: 2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			out, err := renderBuild(t, tt.stream, false, fakeClock(tt.clock))
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr))
			} else {
				is.NoErr(err)
			}
			rest := out
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tt.wantNone {
				is.True(!strings.Contains(out, n)) // builder noise is condensed away
			}
		})
	}
}

// On a terminal the build is one line, rewritten in place at every step: one newline in all.
func TestBuildViewIsOneLineOnATerminal(t *testing.T) {
	is := is.New(t)
	var out bytes.Buffer
	v := &buildView{what: "app:1", terminal: true, now: fakeClock(time.Second)}
	// jsonmessage's own terminal rendering, as render does for a terminal.
	err := jsonmessage.DisplayJSONMessagesStream(&errorDetail{r: strings.NewReader(buildStream), transform: v.transform}, &out, 0, true, nil)
	is.NoErr(err)
	is.Equal(strings.Count(out.String(), "\n"), 1)               // one line on the screen
	is.True(strings.Contains(out.String(), "Step 3/3 RUN make")) // updated to each step
	is.True(strings.Contains(out.String(), "built in"))          // and closed
}

// mage -v: every line the builder prints.
func TestVerboseBuildShowsEverything(t *testing.T) {
	is := is.New(t)
	var out bytes.Buffer
	is.True(isVerbose(Verbose(&out)))
	is.True(!isVerbose(&out))
	is.NoErr(render(strings.NewReader(buildStream), Verbose(&out), nil))
	for _, w := range []string{"Running in 9f8e", "compiling", "Successfully tagged app:1"} {
		is.True(strings.Contains(out.String(), w))
	}
	is.Equal(Verbose(nil), nil)
}
