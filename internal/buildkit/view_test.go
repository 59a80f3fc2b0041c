package buildkit

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
	bkclient "github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

func TestIsStep(t *testing.T) {
	for name, want := range map[string]bool{
		"[1/3] FROM docker.io/library/base:1":              true,
		"[build-task 2/4] RUN pip install":                 true,
		"[internal] load build definition from Dockerfile": false,
		"[auth] library/base:pull token":                   false,
		"exporting to image":                               false,
	} {
		if isStep(name) != want {
			t.Errorf("isStep(%q) = %v, want %v", name, !want, want)
		}
	}
}

// TestViewCountsAndFails: the closing line counts the Dockerfile steps and the cached ones; a
// failed build shows its failing step's output, which Steps.Failed carries for the error.
func TestViewCountsAndFails(t *testing.T) {
	is := is.New(t)
	var out bytes.Buffer
	v := NewView(&out)
	clock := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	v.now = func() time.Time { return clock }
	at := func(s int) *time.Time { t := clock.Add(time.Duration(s) * time.Second); return &t }

	ok := v.track("esb-ok:latest")
	ok.update(&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{
		{Digest: "sha256:a", Name: "[internal] load build definition from Dockerfile", Started: at(0), Completed: at(0)},
		{Digest: "sha256:b", Name: "[1/3] FROM docker.io/library/base:1", Started: at(0), Completed: at(0)},
		{Digest: "sha256:c", Name: "[2/3] COPY task/ /var/task/", Started: at(1), Completed: at(1), Cached: true},
		{Digest: "sha256:d", Name: "[3/3] RUN make", Started: at(1), Completed: at(2)},
	}})
	clock = clock.Add(2 * time.Second)
	steps := ok.finish(nil)
	is.Equal(steps.Total, 3)
	is.Equal(steps.Cached, []string{"[2/3] COPY task/ /var/task/"})
	is.Equal(len(steps.Ran), 2)
	is.Equal(steps.Ran[1], Step{Name: "[3/3] RUN make", Vertex: digest.Digest("sha256:d").String(), Started: *at(-1)})

	bad := v.track("esb-bad:latest")
	bad.update(&bkclient.SolveStatus{
		Vertexes: []*bkclient.Vertex{{Digest: "sha256:e", Name: "[2/2] RUN pip install", Started: at(0), Error: "exit code: 1"}},
		Logs:     []*bkclient.VertexLog{{Vertex: "sha256:e", Data: []byte("Collecting nosuch\nERROR: No matching distribution\n")}},
	})
	failed := bad.finish(errors.New("exit code: 1"))
	is.Equal(failed.Failed, "Collecting nosuch\nERROR: No matching distribution\n")
	is.NoErr(v.Close())
	text := out.String()
	is.True(strings.Contains(text, "esb-ok:latest: built in 2.0s (3 steps, 1 cached)"))
	is.True(strings.Contains(text, "esb-bad:latest: [2/2] RUN pip install failed; its output:\nesb-bad:latest: Collecting nosuch\nesb-bad:latest: ERROR: No matching distribution\n"))
	is.True(strings.Contains(text, "esb-bad:latest: failed after"))
}

// TestViewLostBuildIsRequeued: a build whose builder was lost does not say it failed; its line
// says where the image went, and a step's partial output is not shown as a failure.
func TestViewLostBuildIsRequeued(t *testing.T) {
	is := is.New(t)
	var out bytes.Buffer
	v := NewView(&out)
	lost := v.track("esb-lost:latest")
	lost.update(&bkclient.SolveStatus{
		Vertexes: []*bkclient.Vertex{{Digest: "sha256:f", Name: "[2/2] RUN sleep 5", Started: &time.Time{}, Error: "connection reset"}},
		Logs:     []*bkclient.VertexLog{{Vertex: "sha256:f", Data: []byte("half of it\n")}},
	})
	lost.finish(&LostError{Err: errors.New("tcp://b:1 does not answer: connection refused")})
	v.Print("builds: lost tcp://b:1 mid-run\n")
	v.Requeued("esb-lost:latest", "tcp://b:1")
	is.NoErr(v.Close())
	text := out.String()
	is.True(!strings.Contains(text, "failed"))
	is.True(strings.Contains(text, "esb-lost:latest: moved: tcp://b:1 was lost; requeued for another builder"))
	is.True(strings.Index(text, "builds: lost") < strings.Index(text, "moved:"))
}
