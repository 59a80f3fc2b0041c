package enginetest

import (
	"context"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Counting wraps a client and counts every image, build and container call made through it, so
// a test can prove that a second run did no Docker work. Calls outside those groups (networks,
// volumes, system) pass through uncounted.
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
	counts := c.Counts()
	names := make([]string, 0, len(counts))
	for k := range counts {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Reset zeroes the counters, e.g. between a first and a second run.
func (c *Counting) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Calls.Store(0)
	c.byName = nil
}

func (c *Counting) ContainerAttach(ctx context.Context, container string, options container.AttachOptions) (types.HijackedResponse, error) {
	c.count("ContainerAttach")
	return c.APIClient.ContainerAttach(ctx, container, options)
}

func (c *Counting) ContainerCommit(ctx context.Context, container string, options container.CommitOptions) (container.CommitResponse, error) {
	c.count("ContainerCommit")
	return c.APIClient.ContainerCommit(ctx, container, options)
}

func (c *Counting) ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error) {
	c.count("ContainerCreate")
	return c.APIClient.ContainerCreate(ctx, config, hostConfig, networkingConfig, platform, containerName)
}

func (c *Counting) ContainerDiff(ctx context.Context, container string) ([]container.FilesystemChange, error) {
	c.count("ContainerDiff")
	return c.APIClient.ContainerDiff(ctx, container)
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

func (c *Counting) ContainerExecResize(ctx context.Context, execID string, options container.ResizeOptions) error {
	c.count("ContainerExecResize")
	return c.APIClient.ContainerExecResize(ctx, execID, options)
}

func (c *Counting) ContainerExecStart(ctx context.Context, execID string, options container.ExecStartOptions) error {
	c.count("ContainerExecStart")
	return c.APIClient.ContainerExecStart(ctx, execID, options)
}

func (c *Counting) ContainerExport(ctx context.Context, container string) (io.ReadCloser, error) {
	c.count("ContainerExport")
	return c.APIClient.ContainerExport(ctx, container)
}

func (c *Counting) ContainerInspect(ctx context.Context, container string) (container.InspectResponse, error) {
	c.count("ContainerInspect")
	return c.APIClient.ContainerInspect(ctx, container)
}

func (c *Counting) ContainerInspectWithRaw(ctx context.Context, container string, getSize bool) (container.InspectResponse, []byte, error) {
	c.count("ContainerInspectWithRaw")
	return c.APIClient.ContainerInspectWithRaw(ctx, container, getSize)
}

func (c *Counting) ContainerKill(ctx context.Context, container string, signal string) error {
	c.count("ContainerKill")
	return c.APIClient.ContainerKill(ctx, container, signal)
}

func (c *Counting) ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error) {
	c.count("ContainerList")
	return c.APIClient.ContainerList(ctx, options)
}

func (c *Counting) ContainerLogs(ctx context.Context, container string, options container.LogsOptions) (io.ReadCloser, error) {
	c.count("ContainerLogs")
	return c.APIClient.ContainerLogs(ctx, container, options)
}

func (c *Counting) ContainerPause(ctx context.Context, container string) error {
	c.count("ContainerPause")
	return c.APIClient.ContainerPause(ctx, container)
}

func (c *Counting) ContainerRemove(ctx context.Context, container string, options container.RemoveOptions) error {
	c.count("ContainerRemove")
	return c.APIClient.ContainerRemove(ctx, container, options)
}

func (c *Counting) ContainerRename(ctx context.Context, container string, newContainerName string) error {
	c.count("ContainerRename")
	return c.APIClient.ContainerRename(ctx, container, newContainerName)
}

func (c *Counting) ContainerResize(ctx context.Context, container string, options container.ResizeOptions) error {
	c.count("ContainerResize")
	return c.APIClient.ContainerResize(ctx, container, options)
}

func (c *Counting) ContainerRestart(ctx context.Context, container string, options container.StopOptions) error {
	c.count("ContainerRestart")
	return c.APIClient.ContainerRestart(ctx, container, options)
}

func (c *Counting) ContainerStatPath(ctx context.Context, container string, path string) (container.PathStat, error) {
	c.count("ContainerStatPath")
	return c.APIClient.ContainerStatPath(ctx, container, path)
}

func (c *Counting) ContainerStats(ctx context.Context, container string, stream bool) (container.StatsResponseReader, error) {
	c.count("ContainerStats")
	return c.APIClient.ContainerStats(ctx, container, stream)
}

func (c *Counting) ContainerStatsOneShot(ctx context.Context, container string) (container.StatsResponseReader, error) {
	c.count("ContainerStatsOneShot")
	return c.APIClient.ContainerStatsOneShot(ctx, container)
}

func (c *Counting) ContainerStart(ctx context.Context, container string, options container.StartOptions) error {
	c.count("ContainerStart")
	return c.APIClient.ContainerStart(ctx, container, options)
}

func (c *Counting) ContainerStop(ctx context.Context, container string, options container.StopOptions) error {
	c.count("ContainerStop")
	return c.APIClient.ContainerStop(ctx, container, options)
}

func (c *Counting) ContainerTop(ctx context.Context, container string, arguments []string) (container.TopResponse, error) {
	c.count("ContainerTop")
	return c.APIClient.ContainerTop(ctx, container, arguments)
}

func (c *Counting) ContainerUnpause(ctx context.Context, container string) error {
	c.count("ContainerUnpause")
	return c.APIClient.ContainerUnpause(ctx, container)
}

func (c *Counting) ContainerUpdate(ctx context.Context, container string, updateConfig container.UpdateConfig) (container.UpdateResponse, error) {
	c.count("ContainerUpdate")
	return c.APIClient.ContainerUpdate(ctx, container, updateConfig)
}

func (c *Counting) ContainerWait(ctx context.Context, container string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	c.count("ContainerWait")
	return c.APIClient.ContainerWait(ctx, container, condition)
}

func (c *Counting) CopyFromContainer(ctx context.Context, container string, srcPath string) (io.ReadCloser, container.PathStat, error) {
	c.count("CopyFromContainer")
	return c.APIClient.CopyFromContainer(ctx, container, srcPath)
}

func (c *Counting) CopyToContainer(ctx context.Context, container string, path string, content io.Reader, options container.CopyToContainerOptions) error {
	c.count("CopyToContainer")
	return c.APIClient.CopyToContainer(ctx, container, path, content, options)
}

func (c *Counting) ContainersPrune(ctx context.Context, pruneFilters filters.Args) (container.PruneReport, error) {
	c.count("ContainersPrune")
	return c.APIClient.ContainersPrune(ctx, pruneFilters)
}

func (c *Counting) ImageBuild(ctx context.Context, context io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error) {
	c.count("ImageBuild")
	return c.APIClient.ImageBuild(ctx, context, options)
}

func (c *Counting) BuildCachePrune(ctx context.Context, opts build.CachePruneOptions) (*build.CachePruneReport, error) {
	c.count("BuildCachePrune")
	return c.APIClient.BuildCachePrune(ctx, opts)
}

func (c *Counting) BuildCancel(ctx context.Context, id string) error {
	c.count("BuildCancel")
	return c.APIClient.BuildCancel(ctx, id)
}

func (c *Counting) ImageCreate(ctx context.Context, parentReference string, options image.CreateOptions) (io.ReadCloser, error) {
	c.count("ImageCreate")
	return c.APIClient.ImageCreate(ctx, parentReference, options)
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

func (c *Counting) ImagePush(ctx context.Context, ref string, options image.PushOptions) (io.ReadCloser, error) {
	c.count("ImagePush")
	return c.APIClient.ImagePush(ctx, ref, options)
}

func (c *Counting) ImageRemove(ctx context.Context, image string, options image.RemoveOptions) ([]image.DeleteResponse, error) {
	c.count("ImageRemove")
	return c.APIClient.ImageRemove(ctx, image, options)
}

func (c *Counting) ImageSearch(ctx context.Context, term string, options registry.SearchOptions) ([]registry.SearchResult, error) {
	c.count("ImageSearch")
	return c.APIClient.ImageSearch(ctx, term, options)
}

func (c *Counting) ImageTag(ctx context.Context, image string, ref string) error {
	c.count("ImageTag")
	return c.APIClient.ImageTag(ctx, image, ref)
}

func (c *Counting) ImagesPrune(ctx context.Context, pruneFilter filters.Args) (image.PruneReport, error) {
	c.count("ImagesPrune")
	return c.APIClient.ImagesPrune(ctx, pruneFilter)
}

func (c *Counting) ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (image.InspectResponse, error) {
	c.count("ImageInspect")
	return c.APIClient.ImageInspect(ctx, image, opts...)
}

func (c *Counting) ImageHistory(ctx context.Context, image string, opts ...client.ImageHistoryOption) ([]image.HistoryResponseItem, error) {
	c.count("ImageHistory")
	return c.APIClient.ImageHistory(ctx, image, opts...)
}

func (c *Counting) ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (image.LoadResponse, error) {
	c.count("ImageLoad")
	return c.APIClient.ImageLoad(ctx, input, opts...)
}

func (c *Counting) ImageSave(ctx context.Context, images []string, opts ...client.ImageSaveOption) (io.ReadCloser, error) {
	c.count("ImageSave")
	return c.APIClient.ImageSave(ctx, images, opts...)
}

func (c *Counting) ImageInspectWithRaw(ctx context.Context, image string) (image.InspectResponse, []byte, error) {
	c.count("ImageInspectWithRaw")
	return c.APIClient.ImageInspectWithRaw(ctx, image)
}
