// Package pipeline holds the bundle's stages — Certs → Deploy → Manifest → Pull → Save → Image —
// as methods of one Bundler that carries the configuration (read once) and the Docker client
// (made once). Each stage decides first whether its output is fresh and says why; mage targets
// only chain them. It is the front door and owns the stage order (RunThrough); it reads
// settings only from its config.Config and reaches the engine only through internal/engine.
package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/buildlock"
	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/producer"
)

// Bundler runs the stages for one configuration.
type Bundler struct {
	Config config.Config
	// Docker is the engine client (a handle from engine.New, or a test's client); nil means
	// engine.New() on first use, so stages that need no Docker (Certs, a fresh Deploy, a dry
	// run) never connect.
	Docker client.APIClient
	// Log receives progress and decisions (stderr for mage).
	Log io.Writer
	// Now is the clock (certificate expiry, manifest timestamps); nil means time.Now.
	Now func() time.Time
	// Embedded replaces the built-in producer (tests); nil means the embedded SAM producer.
	Embedded producer.Embedded
	// Secret generates the storage keys of a generated .env; nil means 20 random bytes, hex.
	Secret func() (string, error)

	dockerOnce sync.Once
	engine     *engine.Engine // the handle of Docker (docker)
	dockerErr  error
	planOnce   sync.Once
	done       map[Step]bool
	summary    *summary // BUILD_DIR/summary.json of this run (summary.go)
	notes      sync.Map // the lines said once per run (noteOnce)
}

// noteOnce logs line the first time it is given in this run: the embedded producer runs once
// per template, and its note that the classic builder builds is said once.
func (b *Bundler) noteOnce(line string) {
	if _, said := b.notes.LoadOrStore(line, true); !said {
		b.logf("%s", line)
	}
}

// New returns a Bundler logging to stderr.
func New(cfg config.Config) *Bundler { return &Bundler{Config: cfg, Log: os.Stderr} }

var (
	defaultOnce    sync.Once
	defaultBundler *Bundler
	defaultErr     error
)

// Default is the process's Bundler, configured from its environment on first use.
func Default() (*Bundler, error) {
	defaultOnce.Do(func() {
		cfg, err := config.FromEnvironment()
		if err != nil {
			defaultErr = err
			return
		}
		defaultBundler = New(cfg)
	})
	return defaultBundler, defaultErr
}

// Stage is one step of the pipeline.
type Stage func(*Bundler, context.Context) error

// Run runs a stage that stands outside the bundle chain (certs:generate) on the Default Bundler.
// With DRYRUN set it prints the whole plan once instead, and does nothing.
func Run(ctx context.Context, stage Stage) error {
	b, err := Default()
	if err != nil {
		return err
	}
	if b.Config.DryRun {
		b.planOnce.Do(func() { err = b.PrintPlan(os.Stdout) })
		return err
	}
	return stage(b, ctx)
}

// RunThrough runs the bundle chain on the Default Bundler up to and including last: what every
// stage target does. Stages that already ran in this process are not run again, so
// `mage save image` runs each stage once.
func RunThrough(ctx context.Context, last Step) error {
	b, err := Default()
	if err != nil {
		return err
	}
	return b.RunThrough(ctx, last)
}

// docker is the run's engine handle, so the engine is asked what it is (its image store) once
// per run whichever stage asks first.
func (b *Bundler) docker() (*engine.Engine, error) {
	b.dockerOnce.Do(func() {
		if b.Docker == nil {
			var e *engine.Engine
			if e, b.dockerErr = engine.New(); b.dockerErr != nil {
				return
			}
			b.Docker = e
		}
		b.engine = engine.Of(b.Docker)
	})
	return b.engine, b.dockerErr
}

func (b *Bundler) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Bundler) logf(format string, args ...any) {
	if b.Log != nil {
		fmt.Fprintf(b.Log, format+"\n", args...)
	}
}

// progress is where long Docker work renders: the log, or nothing.
func (b *Bundler) progress() io.Writer {
	if b.Log == nil {
		return io.Discard
	}
	if b.Config.Verbose {
		// mage -v: every line builds print, not one line per build.
		return engine.Verbose(b.Log)
	}
	return b.Log
}

func (b *Bundler) secret() (string, error) {
	if b.Secret != nil {
		return b.Secret()
	}
	buf := make([]byte, 20)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate a storage key: %w", err)
	}
	return hex.EncodeToString(buf), nil
}

// Step names a stage of the bundle chain.
type Step int

// The bundle chain. Its order is written here once; the targets name the step they end at.
const (
	StepCerts Step = iota
	StepDeploy
	StepManifest
	StepPull
	StepSave
	StepImage
)

// chain is the bundle's stages in order, indexed by Step.
var chain = [...]struct {
	name string
	run  Stage
}{
	StepCerts:    {"certs", (*Bundler).Certs},
	StepDeploy:   {"deploy", (*Bundler).Deploy},
	StepManifest: {"manifest", (*Bundler).Manifest},
	StepPull:     {"pull", (*Bundler).Pull},
	StepSave:     {"save", (*Bundler).Save},
	StepImage:    {"image", (*Bundler).Image},
}

// String is the step's target name.
func (s Step) String() string { return chain[s].name }

// RunThrough runs every stage of the chain up to and including last, each at most once per
// Bundler, or prints the plan once for a dry run. It holds BUILD_DIR's lock while the stages run:
// a second run on the same BUILD_DIR waits, saying which process holds it.
//
// What can be checked from the configuration alone (Preflight) is checked first, so a missing
// template or compose file fails before any stage does work; a dry run prints the plan, then
// fails with the same errors.
func (b *Bundler) RunThrough(ctx context.Context, last Step) error {
	preflight := b.Preflight(last)
	if b.Config.DryRun {
		var err error
		b.planOnce.Do(func() { err = b.PrintPlan(os.Stdout) })
		return errors.Join(err, preflight)
	}
	if preflight != nil {
		return preflight
	}
	release, err := b.lockBuildDir(ctx)
	if err != nil {
		return err
	}
	defer release()
	for step := StepCerts; step <= last; step++ {
		if b.done[step] {
			continue
		}
		if err := b.runStage(ctx, chain[step].name, chain[step].run); err != nil {
			return err
		}
		if b.done == nil {
			b.done = map[Step]bool{}
		}
		b.done[step] = true
	}
	return nil
}

// lockBuildDir takes BUILD_DIR's lock, then removes what earlier runs that were killed part-way
// left there (temporary files of unfinished writes, layer store spools): with the lock held no
// other run is writing them. A file that cannot be removed is only a warning.
func (b *Bundler) lockBuildDir(ctx context.Context) (release func(), err error) {
	lock, err := buildlock.Acquire(ctx, b.Config.BuildDir, buildlock.Options{Log: b.Log})
	if err != nil {
		return nil, err
	}
	removed, freed, err := atomicfile.Sweep(b.Config.BuildDir)
	if err == nil {
		store := &layerstore.Store{Dir: b.storeDir()} // not Open: a run of certs alone creates no store
		var n int
		var f int64
		n, f, err = store.CleanTemp()
		removed, freed = removed+n, freed+f
	}
	if err != nil {
		b.logf("warning: %v", err)
	}
	if removed > 0 {
		b.logf("removed %d unfinished files (%d MB) of interrupted runs from %s", removed, freed>>20, b.Config.BuildDir)
	}
	return func() { lock.Release() }, nil
}

// Preflight checks what a run through last needs and the configuration names: the templates
// from the deploy stage on, the compose file for the image stage; from the deploy stage on, that
// BUNDLE_TAG names no image of the compose file or of the embedded producer's plans, and that no
// two templates build one function. (Values — BUNDLE_TAG, RUN_UID/RUN_GID, .env — were checked
// when the configuration was read.)
func (b *Bundler) Preflight(last Step) error {
	if err := b.Config.CheckFiles(last >= StepDeploy, last >= StepImage); err != nil {
		return fmt.Errorf("checked before the first stage: %w", err)
	}
	if last >= StepDeploy {
		if err := b.checkComposeImages(); err != nil {
			return fmt.Errorf("checked before the first stage: %w", err)
		}
		// The embedded producer's plans name every image it builds or reads: a clash with
		// BUNDLE_TAG or between templates is refused now; other planning errors are the
		// Deploy stage's to report.
		if _, err := b.deploySteps(); errors.Is(err, config.ErrClash) {
			return fmt.Errorf("checked before the first stage: %w", err)
		}
	}
	return nil
}

// checkComposeImages refuses a BUNDLE_TAG that names an image of the compose file: one a service
// runs, or builds (its image:, else the embedded producer's <project>-<service>). A compose file
// that cannot be read is left to the stage that reads it, which says why.
func (b *Bundler) checkComposeImages() error {
	f, err := compose.ParseFile(b.Config.ComposeFile, b.Config.Vars)
	if err != nil {
		return nil
	}
	for _, s := range f.Services {
		name := s.Image
		if name == "" {
			name = b.Config.Project + "-" + strings.ToLower(s.Name)
		}
		if err := b.Config.CheckBundleTag("the compose file's service "+s.Name, []string{name}); err != nil {
			return err
		}
	}
	return nil
}

// RunAll runs the whole chain (what the Bundle target does), or prints the plan for a dry run.
func (b *Bundler) RunAll(ctx context.Context) error { return b.RunThrough(ctx, StepImage) }
