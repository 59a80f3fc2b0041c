// Package pipeline holds the bundle's stages — Certs → Deploy → Manifest → Pull → Save → Image —
// as methods of one Bundler that carries the configuration (read once) and the Docker client
// (made once). Each stage decides first whether its output is fresh and says why; mage targets
// only chain them.
package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/config"
	"github.com/dindbundler/dindbundler/engine"
	"github.com/dindbundler/dindbundler/producer"
)

// Bundler runs the stages for one configuration.
type Bundler struct {
	Config config.Config
	// Docker is the engine client; nil means engine.New() on first use, so stages that need no
	// Docker (Certs, a fresh Deploy, a dry run) never connect.
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
	dockerErr  error
}

// New returns a Bundler logging to stderr.
func New(cfg config.Config) *Bundler { return &Bundler{Config: cfg, Log: os.Stderr} }

var (
	defaultOnce    sync.Once
	defaultBundler *Bundler
	defaultErr     error
	dryRunOnce     sync.Once
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

// Run runs a stage on the Default Bundler. With DRYRUN set it prints the whole plan once
// instead, and every stage does nothing.
func Run(ctx context.Context, stage Stage) error {
	b, err := Default()
	if err != nil {
		return err
	}
	if b.Config.DryRun {
		dryRunOnce.Do(func() { err = b.PrintPlan(os.Stdout) })
		return err
	}
	return stage(b, ctx)
}

func (b *Bundler) docker() (client.APIClient, error) {
	b.dockerOnce.Do(func() {
		if b.Docker != nil {
			return
		}
		var c *client.Client
		c, b.dockerErr = engine.New()
		if b.dockerErr == nil {
			b.Docker = c
		}
	})
	return b.Docker, b.dockerErr
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

// Stages is the pipeline in order.
var Stages = []Stage{(*Bundler).Certs, (*Bundler).Deploy, (*Bundler).Manifest, (*Bundler).Pull, (*Bundler).Save, (*Bundler).Image}

// RunAll runs every stage in order on b (what the Bundle target does through mage's
// dependencies), or prints the plan for a dry run.
func (b *Bundler) RunAll(ctx context.Context) error {
	if b.Config.DryRun {
		return b.PrintPlan(os.Stdout)
	}
	for _, stage := range Stages {
		if err := stage(b, ctx); err != nil {
			return err
		}
	}
	return nil
}
