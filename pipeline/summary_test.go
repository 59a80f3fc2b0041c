package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/fresh"
)

func TestCILine(t *testing.T) {
	tests := []struct {
		s    StageSummary
		want string
	}{
		{StageSummary{Stage: "save", Why: "skipped, x is up to date", Seconds: 0.014, Bytes: 12}, `dindbundler: stage=save result=skipped seconds=0.01 bytes=12 why="skipped, x is up to date"`},
		{StageSummary{Stage: "image", Ran: true, Why: `building "b:1"`, Seconds: 3}, `dindbundler: stage=image result=ran seconds=3.00 bytes=0 why="building \"b:1\""`},
		{StageSummary{Stage: "pull", Ran: true, Error: "pull x: denied\nmore"}, `dindbundler: stage=pull result=failed seconds=0.00 bytes=0 why="pull x: denied"`},
	}
	for _, tt := range tests {
		is.New(t).Equal(CILine(tt.s), tt.want)
	}
}

// summaryBundler is a Bundler on an empty project that logs into the returned buffer, with
// CI=true when ci.
func summaryBundler(t *testing.T, ci bool) (*Bundler, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	environ := []string{"BUILD_DIR=" + filepath.Join(dir, "build"), "BUNDLE_TAG=x:1"}
	if ci {
		environ = append(environ, "CI=true")
	}
	cfg, err := config.Load(environ, dir)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	return &Bundler{Config: cfg, Log: &log}, &log
}

// runStage records each stage's outcome from its decisions, writes summary.json after every
// stage, and prints the CI line only with CI=true.
func TestRunStageSummary(t *testing.T) {
	for _, ci := range []bool{false, true} {
		is := is.New(t)
		b, log := summaryBundler(t, ci)
		ctx := context.Background()
		is.NoErr(b.runStage(ctx, "certs", func(b *Bundler, _ context.Context) error {
			b.logf("certs: 3 files in d checked")
			return nil
		}))
		is.NoErr(b.runStage(ctx, "deploy", func(b *Bundler, ctx context.Context) error {
			b.logf("unrelated line")
			return b.carry(ctx, "deploy", fresh.Plan{Decision: fresh.Decision{Fresh: true, Reason: "m is up to date"}, Subject: "a.yaml"})
		}))
		err := b.runStage(ctx, "manifest", func(b *Bundler, _ context.Context) error { return errors.New("boom") })
		is.True(err != nil)

		data, err := os.ReadFile(b.SummaryPath())
		is.NoErr(err)
		var s Summary
		is.NoErr(json.Unmarshal(data, &s))
		is.Equal(s.Bundle, "x:1")
		is.Equal(len(s.Stages), 3)
		is.Equal(s.Stages[0].Ran, true)
		is.Equal(s.Stages[0].Why, "3 files in d checked")
		is.Equal(s.Stages[1].Ran, false)
		is.Equal(s.Stages[1].Why, "a.yaml: skipped, m is up to date")
		is.Equal(s.Stages[2].Error, "boom")
		is.Equal(strings.Count(log.String(), "dindbundler: stage="), map[bool]int{false: 0, true: 3}[ci])
		is.True(strings.Contains(log.String(), "unrelated line")) // the log still gets everything
		is.Equal(b.Log, log)                                      // and is restored
	}
}
