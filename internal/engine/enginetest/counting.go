package enginetest

import (
	"context"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Counting wraps a client and counts the image, build and container calls made through it, so
// a test can prove that a second run did no Docker work. It embeds the client and overrides only
// the calls package engine makes (as testcontainers-go's fakes do); TestCountingCoversEngine
// fails when engine starts making an image or container call that is not counted here. `docker
// info` is counted by name only (Count("Info")): it is a question, not Docker work, and a run
// asks it once (engine.Engine.Store). Other calls (networks, volumes, system) pass through
// uncounted.
type Counting struct {
	client.APIClient
	// Calls is the total of counted calls.
	Calls atomic.Int64

	mu     sync.Mutex
	byName map[string]int64
}

var _ client.APIClient = (*Counting)(nil)

// NewCounting wraps api.
func NewCounting(api client.APIClient) *Counting { return &Counting{APIClient: api} }

func (c *Counting) count(method string) {
	c.Calls.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName == nil {
		c.byName = make(map[string]int64)
	}
	c.byName[method]++
}

// Info counts the question by name, not in Calls.
func (c *Counting) Info(ctx context.Context) (system.Info, error) {
	c.mu.Lock()
	if c.byName == nil {
		c.byName = make(map[string]int64)
	}
	c.byName["Info"]++
	c.mu.Unlock()
	return c.APIClient.Info(ctx)
}

// Count returns how many times method (e.g. "ImageBuild") was called.
func (c *Counting) Count(method string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byName[method]
}

// Counts returns the calls made so far by method name, for failure messages.
func (c *Counting) Counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int64, len(c.byName))
	for k, v := range c.byName {
		m[k] = v
	}
	return m
}

// Methods lists the methods called so far, sorted.
func (c *Counting) Methods() []string {
	return slices.Sorted(maps.Keys(c.Counts()))
}

// Reset zeroes the counters, e.g. between a first and a second run.
func (c *Counting) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Calls.Store(0)
	c.byName = nil
}

func (c *Counting) ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error) {
	c.count("ContainerCreate")
	return c.APIClient.ContainerCreate(ctx, config, hostConfig, networkingConfig, platform, containerName)
}

func (c *Counting) ContainerExecAttach(ctx context.Context, execID string, options container.ExecAttachOptions) (types.HijackedResponse, error) {
	c.count("ContainerExecAttach")
	return c.APIClient.ContainerExecAttach(ctx, execID, options)
}

func (c *Counting) ContainerExecCreate(ctx context.Context, container string, options container.ExecOptions) (container.ExecCreateResponse, error) {
	c.count("ContainerExecCreate")
	return c.APIClient.ContainerExecCreate(ctx, container, options)
}

func (c *Counting) ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error) {
	c.count("ContainerExecInspect")
	return c.APIClient.ContainerExecInspect(ctx, execID)
}

func (c *Counting) ContainerInspect(ctx context.Context, container string) (container.InspectResponse, error) {
	c.count("ContainerInspect")
	return c.APIClient.ContainerInspect(ctx, container)
}

func (c *Counting) ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error) {
	c.count("ContainerList")
	return c.APIClient.ContainerList(ctx, options)
}

func (c *Counting) ContainerLogs(ctx context.Context, container string, options container.LogsOptions) (io.ReadCloser, error) {
	c.count("ContainerLogs")
	return c.APIClient.ContainerLogs(ctx, container, options)
}

func (c *Counting) ContainerRemove(ctx context.Context, container string, options container.RemoveOptions) error {
	c.count("ContainerRemove")
	return c.APIClient.ContainerRemove(ctx, container, options)
}

func (c *Counting) ContainerStart(ctx context.Context, container string, options container.StartOptions) error {
	c.count("ContainerStart")
	return c.APIClient.ContainerStart(ctx, container, options)
}

func (c *Counting) ContainerStop(ctx context.Context, container string, options container.StopOptions) error {
	c.count("ContainerStop")
	return c.APIClient.ContainerStop(ctx, container, options)
}

func (c *Counting) ContainerWait(ctx context.Context, container string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	c.count("ContainerWait")
	return c.APIClient.ContainerWait(ctx, container, condition)
}

func (c *Counting) ImageBuild(ctx context.Context, context io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error) {
	c.count("ImageBuild")
	return c.APIClient.ImageBuild(ctx, context, options)
}

func (c *Counting) ImageImport(ctx context.Context, source image.ImportSource, ref string, options image.ImportOptions) (io.ReadCloser, error) {
	c.count("ImageImport")
	return c.APIClient.ImageImport(ctx, source, ref, options)
}

func (c *Counting) ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error) {
	c.count("ImageList")
	return c.APIClient.ImageList(ctx, options)
}

func (c *Counting) ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error) {
	c.count("ImagePull")
	return c.APIClient.ImagePull(ctx, ref, options)
}

func (c *Counting) ImageRemove(ctx context.Context, image string, options image.RemoveOptions) ([]image.DeleteResponse, error) {
	c.count("ImageRemove")
	return c.APIClient.ImageRemove(ctx, image, options)
}

func (c *Counting) ImageTag(ctx context.Context, image string, ref string) error {
	c.count("ImageTag")
	return c.APIClient.ImageTag(ctx, image, ref)
}

func (c *Counting) ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (image.InspectResponse, error) {
	c.count("ImageInspect")
	return c.APIClient.ImageInspect(ctx, image, opts...)
}

func (c *Counting) ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (image.LoadResponse, error) {
	c.count("ImageLoad")
	return c.APIClient.ImageLoad(ctx, input, opts...)
}

func (c *Counting) ImageSave(ctx context.Context, images []string, opts ...client.ImageSaveOption) (io.ReadCloser, error) {
	c.count("ImageSave")
	return c.APIClient.ImageSave(ctx, images, opts...)
}
