package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/fresh"
)

// StageSummary is one stage's line of BUILD_DIR/summary.json.
type StageSummary struct {
	Stage   string  `json:"stage"`
	Ran     bool    `json:"ran"`     // false: skipped, its output was up to date
	Why     string  `json:"why"`     // why it skipped (its decision), or the stage's own first line: what it did
	Seconds float64 `json:"seconds"` // wall clock
	Bytes   int64   `json:"bytes"`   // size of the stage's output (0 when it has none on disk)
	Error   string  `json:"error,omitempty"`
}

// Summary is BUILD_DIR/summary.json: the stages this run went through, in order.
type Summary struct {
	Bundle  string         `json:"bundle"`
	Started time.Time      `json:"started"`
	Stages  []StageSummary `json:"stages"`
}

// summary collects the run's stage summaries; the stages report their output size with
// noteBytes and their decisions with carry (or decided).
type summary struct {
	mu    sync.Mutex
	s     Summary
	bytes int64
	plans []fresh.Plan // the running stage's decisions
}

// SummaryPath is where the run's summary goes.
func (b *Bundler) SummaryPath() string { return b.Config.Layout().Summary() }

// runStage runs one named stage, recording what it did in BUILD_DIR/summary.json and, with
// CI=true, printing one stable line for it:
//
//	dindbundler: stage=save result=skipped seconds=0.01 bytes=540162717 why="…"
func (b *Bundler) runStage(ctx context.Context, name string, run Stage) error {
	if b.summary == nil {
		b.summary = &summary{s: Summary{Bundle: b.Config.BundleTag, Started: b.now().UTC()}}
	}
	b.summary.mu.Lock()
	b.summary.bytes = -1
	b.summary.plans = nil
	b.summary.mu.Unlock()
	rec := &stageLog{prefix: name + ": ", next: b.Log}
	saved := b.Log
	b.Log = rec
	start := time.Now()
	err := run(b, ctx)
	b.Log = saved
	b.summary.mu.Lock()
	st := StageSummary{Stage: name, Seconds: time.Since(start).Seconds(), Why: rec.first, Ran: fresh.Ran(b.summary.plans), Bytes: b.summary.bytes}
	if !st.Ran {
		st.Why = b.summary.plans[0].Skipped() // the decision, not whatever the stage logged first
	}
	b.summary.mu.Unlock()
	if err != nil {
		st.Ran, st.Error = true, err.Error()
	}
	if st.Bytes < 0 {
		st.Bytes = b.outputBytes(ctx, name)
	}
	b.summary.s.Stages = append(b.summary.s.Stages, st)
	if e, cerr := b.Config.ExportSettings(); cerr == nil && e.CI {
		b.logf("%s", CILine(st))
	} else if st.Ran && err == nil {
		b.logf("%s", doneLine(st))
	}
	if werr := atomicfile.WriteJSON(b.SummaryPath(), b.summary.s, 0o644); werr != nil && err == nil {
		b.logf("%s: could not write the summary: %v", name, werr)
	}
	return err
}

// RunStage runs a stage outside the bundle chain (export) on the Default Bundler, recorded in
// the summary like the chain's stages; with DRYRUN set it prints the plan once instead.
func RunStage(ctx context.Context, name string, stage Stage) error {
	b, err := Default()
	if err != nil {
		return err
	}
	if b.Config.DryRun {
		if err := Run(ctx, stage); err != nil {
			return err
		}
		if name == "export" {
			return b.PrintExportPlan(os.Stdout)
		}
		return nil
	}
	return b.RunStage(ctx, name, stage)
}

// RunStage runs a stage outside the chain (export) as the chain's stages run: holding BUILD_DIR's
// lock (it writes there too, and the lock lets it remove what killed runs left), recorded in the
// summary.
func (b *Bundler) RunStage(ctx context.Context, name string, stage Stage) error {
	release, err := b.lockBuildDir(ctx)
	if err != nil {
		return err
	}
	defer release()
	return b.runStage(ctx, name, stage)
}

// carry carries out a stage's plan: a fresh one is logged as skipped ("save: skipped, …"), any
// other is done. The plan is the stage's decision in the run's summary.
func (b *Bundler) carry(ctx context.Context, stage string, p fresh.Plan) error {
	b.decided(p)
	if p.Fresh {
		b.logf("%s: %s", stage, p.Skipped())
		return nil
	}
	if p.Do == nil { // a dry run's plan: it never does work
		return fmt.Errorf("%s: %s, but the plan has no work to do (a dry run's)", stage, p.Reason)
	}
	return p.Do(ctx)
}

// decided records a decision of the running stage for the summary (carry does it for plans it
// runs; a stage that learns only after its work that nothing changed reports that itself).
func (b *Bundler) decided(p fresh.Plan) {
	if b.summary != nil {
		b.summary.mu.Lock()
		b.summary.plans = append(b.summary.plans, p)
		b.summary.mu.Unlock()
	}
}

// noteBytes records the size of what the running stage made.
func (b *Bundler) noteBytes(n int64) {
	if b.summary != nil {
		b.summary.mu.Lock()
		b.summary.bytes = n
		b.summary.mu.Unlock()
	}
}

// CILine is a stage's line for CI logs: fixed keys in a fixed order, the reason quoted last.
func CILine(s StageSummary) string {
	result := "skipped"
	switch {
	case s.Error != "":
		result = "failed"
	case s.Ran:
		result = "ran"
	}
	why := s.Why
	if s.Error != "" {
		why = s.Error
	}
	why, _, _ = strings.Cut(why, "\n")
	return fmt.Sprintf("dindbundler: stage=%s result=%s seconds=%.2f bytes=%d why=%s", s.Stage, result, s.Seconds, s.Bytes, strconv.Quote(why))
}

// doneLine closes a stage that did work, for people: how long it took and what it made.
func doneLine(s StageSummary) string {
	line := fmt.Sprintf("%s: done in %.1fs", s.Stage, s.Seconds)
	if s.Bytes > 0 {
		line += ", " + units.BytesSize(float64(s.Bytes))
	}
	return line
}

// outputBytes is the size on disk of a stage's output, where it has one there.
func (b *Bundler) outputBytes(ctx context.Context, stage string) int64 {
	switch stage {
	case "image":
		if b.Docker != nil {
			info, _, _ := engine.Inspect(ctx, b.Docker, b.Config.BundleTag)
			return info.Size
		}
	case "manifest":
		return sizeOf(b.Config.Layout().MergedManifest())
	case "save":
		return sizeOf(b.storeDir())
	}
	return 0
}

// sizeOf is the bytes of the regular files at or under path.
func sizeOf(path string) int64 {
	var n int64
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// stageLog passes a stage's log through and keeps the first line of the stage's own: what it did.
type stageLog struct {
	mu     sync.Mutex // stages may log from several goroutines (a producer's stdout and stderr)
	prefix string
	next   io.Writer
	buf    bytes.Buffer
	first  string
}

// Fd is the underlying terminal's, so progress rendering still sees a terminal through the
// recorder (escape codes pass through unchanged).
func (l *stageLog) Fd() uintptr {
	if f, ok := l.next.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}

func (l *stageLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line)
			break
		}
		rest, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), l.prefix)
		if !ok {
			continue
		}
		if l.first == "" {
			l.first = rest
		}
	}
	if l.next == nil {
		return len(p), nil
	}
	return l.next.Write(p)
}
