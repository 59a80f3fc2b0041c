package matrix

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/tarball"
)

// Labels on the matrix engine containers: which flavour, and which process owns it, so a later
// run can remove containers whose owner died before it could. The names predate this package
// (the test kit started the engines first) and stay, so stale engines of older runs still go.
const (
	FlavourLabel = "io.dindbundler.enginetest.flavour"
	OwnerLabel   = "io.dindbundler.enginetest.owner"
)

// Pool starts matrix engines on the host engine on first use, each once, and removes them all
// at Stop. Its owner must call Stop (a test binary's Main, the benchmark's deferred cleanup);
// engines of an owner that died are removed by the next Pool's first start.
type Pool struct {
	// Image is the image the engines run (Engine 28.5), made on the host engine before the
	// first start of a flavour that names no Engine.
	Image Image
	// Images are the images of the other engine releases, by Flavour.Engine (e.g. Engine26),
	// each made before the first start of a flavour that names it.
	Images map[string]Image
	// Log receives one line per engine built or started; nil discards them.
	Log io.Writer
	// Prefix starts each Log line, e.g. "enginetest: ".
	Prefix string

	mu           sync.Mutex
	host         *engine.Engine
	imaged       map[string]error // result of ensuring each image, by tag, once
	started      map[string]*startResult
	firstWorking int // index of the first dindHostConfigs entry that started an engine
}

type startResult struct {
	r   Running
	err error
}

func (p *Pool) logf(format string, args ...any) {
	if p.Log != nil {
		fmt.Fprintf(p.Log, p.Prefix+format+"\n", args...)
	}
}

// Running returns the running engine of flavour f, starting it first (and building
// the pool's Image on the host engine if it is missing) if this pool has not yet. A failed start is
// remembered: asking again returns the same error.
func (p *Pool) Running(f Flavour) (Running, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started == nil {
		p.started = map[string]*startResult{}
	}
	if s, ok := p.started[f.Name]; ok {
		return s.r, s.err
	}
	r, err := p.start(f)
	p.started[f.Name] = &startResult{r, err}
	return r, err
}

// Client returns a client of the engine of flavour f (started first if needed), with the API
// version settled; the caller closes it.
func (p *Pool) Client(ctx context.Context, f Flavour) (*engine.Engine, Running, error) {
	r, err := p.Running(f)
	if err != nil {
		return nil, Running{}, err
	}
	c, err := engine.New(client.WithHost(r.Host))
	if err != nil {
		return nil, Running{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c.NegotiateAPIVersion(ctx)
	return c, r, nil
}

func (p *Pool) start(f Flavour) (Running, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if p.host == nil {
		c, err := engine.New()
		if err != nil {
			return Running{}, err
		}
		p.host = c
		if err := RemoveStale(ctx, c); err != nil {
			return Running{}, err
		}
	}
	img, err := p.imageOf(ctx, f)
	if err != nil {
		return Running{}, err
	}
	t0 := time.Now()
	r, first, err := startEngine(ctx, p.host, img.Tag, f, p.firstWorking)
	if err != nil {
		return Running{}, fmt.Errorf("engine matrix: start %s: %w", f.Name, err)
	}
	p.firstWorking = first
	p.logf("%s (%s) answers at %s after %s", f.Name, r.How, r.Host, time.Since(t0).Round(100*time.Millisecond))
	return r, nil
}

// imageOf returns the image flavour f runs, made on the host engine the first time it is asked
// for; a failure to make it is remembered.
func (p *Pool) imageOf(ctx context.Context, f Flavour) (Image, error) {
	img := p.Image
	if f.Engine != "" {
		var ok bool
		if img, ok = p.Images[f.Engine]; !ok {
			return Image{}, fmt.Errorf("engine matrix: %s runs Engine %s, for which the pool has no image (set Pool.Images[%q], e.g. dind/base.MatrixImages)", f.Name, f.Engine, f.Engine)
		}
	}
	if p.imaged == nil {
		p.imaged = map[string]error{}
	}
	if err, done := p.imaged[img.Tag]; done {
		return img, err
	}
	t0 := time.Now()
	var progress io.Writer
	if p.Log != nil {
		progress = prefixed{p.Log, p.Prefix}
	}
	built, err := false, errors.New("the pool names no engine image (set Pool.Image, e.g. dind/base.MatrixImage)")
	if img.Ensure != nil {
		built, err = img.Ensure(ctx, p.host, progress)
	}
	if err != nil {
		err = fmt.Errorf("engine matrix: build the engine image %s: %w", img.Tag, err)
	} else if built {
		p.logf("built %s in %s", img.Tag, time.Since(t0).Round(100*time.Millisecond))
	}
	p.imaged[img.Tag] = err
	return img, err
}

// Stop removes every engine the pool started (with its volume) and closes its host client.
func (p *Pool) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.host == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for name, s := range p.started {
		if s.err == nil {
			if err := Remove(ctx, p.host, s.r.ID); err != nil {
				errs = append(errs, fmt.Errorf("remove engine %s: %w", name, err))
			}
		}
	}
	p.started = map[string]*startResult{}
	errs = append(errs, p.host.Close())
	p.host = nil
	return errors.Join(errs...)
}

//go:embed engine-start.sh
var startScript []byte

type namedHostConfig struct {
	name string
	hc   container.HostConfig
}

// dindHostConfigs are the ways to run a nested engine, tried in order: --privileged as users
// elsewhere do, then engine.ApplyCaps, the set that works where the host's bounding set lacks
// CAP_SYS_RESOURCE (see ENVIRONMENT.md). /var/lib/docker gets an anonymous volume: overlay on
// the container's own overlay filesystem fails.
func dindHostConfigs() []namedHostConfig {
	common := func() *container.HostConfig {
		return &container.HostConfig{
			Mounts:       []mount.Mount{{Type: mount.TypeVolume, Target: "/var/lib/docker"}},
			PortBindings: nat.PortMap{"2375/tcp": {{HostIP: "127.0.0.1"}}},
		}
	}
	privileged := common()
	privileged.Privileged = true
	caps := common()
	engine.ApplyCaps(caps)
	return []namedHostConfig{{"--privileged", *privileged}, {"--cap-add ALL --cap-drop SYS_RESOURCE, unconfined, cgroup rw", *caps}}
}

// startEngine runs a container of image as flavour f and waits until its dockerd answers.
// It tries dindHostConfigs from index from on (earlier ones failed for an earlier engine) and
// returns the index of the one that worked.
func startEngine(ctx context.Context, api *engine.Engine, image string, f Flavour, from int) (Running, int, error) {
	gw, err := bridgeGateway(ctx, api)
	if err != nil {
		return Running{}, 0, err
	}
	daemonJSON, err := DaemonConfig(f, gw)
	if err != nil {
		return Running{}, 0, err
	}
	files, err := tarOf(map[string][]byte{
		"etc/docker/daemon.json":         daemonJSON,
		"usr/local/bin/enginetest-start": startScript,
	})
	if err != nil {
		return Running{}, 0, err
	}
	hostname, _ := os.Hostname()
	cfg := &container.Config{
		Image:        image,
		Entrypoint:   []string{"/bin/sh", "/usr/local/bin/enginetest-start"},
		Cmd:          []string{},
		ExposedPorts: nat.PortSet{"2375/tcp": {}},
		Labels:       map[string]string{FlavourLabel: f.Name, OwnerLabel: hostname + ":" + strconv.Itoa(os.Getpid())},
	}
	var startErrs []error
	for i, nhc := range dindHostConfigs() {
		if i < from {
			continue
		}
		created, err := api.ContainerCreate(ctx, cfg, &nhc.hc, nil, nil, "")
		if err != nil {
			return Running{}, 0, fmt.Errorf("create a container of %s: %w", image, err)
		}
		id := created.ID
		if err := api.CopyToContainer(ctx, id, "/", bytes.NewReader(files), container.CopyToContainerOptions{}); err != nil {
			_ = Remove(ctx, api, id)
			return Running{}, 0, fmt.Errorf("copy the start script and daemon.json into %s: %w", id[:12], err)
		}
		if err := api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
			_ = Remove(ctx, api, id)
			startErrs = append(startErrs, fmt.Errorf("%s: %w", nhc.name, err))
			continue // e.g. "unable to apply caps" for --privileged here
		}
		r, err := waitEngine(ctx, api, id)
		if err != nil {
			_ = Remove(ctx, api, id)
			return Running{}, 0, err
		}
		r.Flavour, r.RegistryIP, r.How = f, gw, nhc.name
		return r, i, nil
	}
	return Running{}, 0, fmt.Errorf("no way to run a nested engine here (tried --privileged, then --cap-add ALL --cap-drop SYS_RESOURCE with unconfined seccomp/apparmor/systempaths): %w", errors.Join(startErrs...))
}

// waitEngine reads the published port and polls `docker info` on it for up to 90 s.
func waitEngine(ctx context.Context, api *engine.Engine, id string) (Running, error) {
	info, err := api.ContainerInspect(ctx, id)
	if err != nil {
		return Running{}, fmt.Errorf("inspect engine container %s: %w", id[:12], err)
	}
	bindings := info.NetworkSettings.Ports["2375/tcp"]
	if len(bindings) == 0 {
		return Running{}, fmt.Errorf("engine container %s publishes no port for 2375/tcp", id[:12])
	}
	r := Running{ID: id, Host: "tcp://" + net.JoinHostPort("127.0.0.1", bindings[0].HostPort), Pid: info.State.Pid}
	c, err := engine.New(client.WithHost(r.Host))
	if err != nil {
		return Running{}, err
	}
	defer c.Close()
	deadline := time.Now().Add(90 * time.Second)
	for {
		pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var sys system.Info
		sys, err = c.Info(pingCtx)
		cancel()
		if err == nil && sys.ServerVersion != "" {
			return r, nil
		}
		st, ierr := api.ContainerInspect(ctx, id)
		if ierr == nil && !st.State.Running {
			return Running{}, fmt.Errorf("engine container %s exited (status %d) before dockerd answered; its log:\n%s", id[:12], st.State.ExitCode, logTail(ctx, api, id))
		}
		if time.Now().After(deadline) {
			return Running{}, fmt.Errorf("dockerd in engine container %s did not answer at %s within 90 s (%v); its log:\n%s", id[:12], r.Host, err, logTail(ctx, api, id))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func logTail(ctx context.Context, api *engine.Engine, id string) string {
	rc, err := api.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "60"})
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer rc.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, rc)
	return out.String()
}

// bridgeGateway is the host's address on the default bridge network, where the engine
// containers run: reachable from them, and not from outside the machine. The default bridge
// often records no gateway (Engine 20.10), so the address is then read from its interface
// (docker0), which exists only when the caller runs on the engine's machine.
func bridgeGateway(ctx context.Context, api *engine.Engine) (string, error) {
	nw, err := api.NetworkInspect(ctx, "bridge", network.InspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspect the host engine's bridge network: %w", err)
	}
	for _, c := range nw.IPAM.Config {
		if ip := net.ParseIP(c.Gateway); ip != nil && ip.To4() != nil {
			return c.Gateway, nil
		}
	}
	name := nw.Options["com.docker.network.bridge.name"]
	if name == "" {
		name = "docker0"
	}
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return "", fmt.Errorf("find the host's address on the engine containers' network (interface %s): %w; the engine matrix needs the host engine on this machine", name, err)
	}
	addrs, err := iface.Addrs()
	if err != nil {
		return "", fmt.Errorf("read the addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	return "", fmt.Errorf("interface %s has no IPv4 address: the engine containers could not reach a test registry", name)
}

// Remove force-removes the engine container id and its volume; one already gone is fine.
func Remove(ctx context.Context, api client.ContainerAPIClient, id string) error {
	err := api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !strings.Contains(strings.ToLower(err.Error()), "no such container") {
		return err
	}
	return nil
}

// RemoveStale removes engine containers of this machine whose owning process is gone (a test
// binary killed by a timeout, an interrupted benchmark).
func RemoveStale(ctx context.Context, api client.ContainerAPIClient) error {
	list, err := api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", OwnerLabel))})
	if err != nil {
		return fmt.Errorf("list engine containers: %w", err)
	}
	hostname, _ := os.Hostname()
	for _, c := range list {
		if !Stale(c.Labels[OwnerLabel], hostname, processAlive) {
			continue
		}
		if err := Remove(ctx, api, c.ID); err != nil {
			return fmt.Errorf("remove stale engine container %s: %w", c.ID[:12], err)
		}
	}
	return nil
}

// Stale reports whether an engine whose owner label is owner ("host:pid") belongs to a dead
// process of this machine (hostname); engines of other machines and unreadable labels are
// left alone.
func Stale(owner, hostname string, alive func(pid int) bool) bool {
	host, pidText, _ := strings.Cut(owner, ":")
	pid, err := strconv.Atoi(pidText)
	return host == hostname && err == nil && !alive(pid)
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func tarOf(files map[string][]byte) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var buf bytes.Buffer
	tw := tarball.NewWriter(&buf)
	for _, n := range names {
		if err := tw.File(n, 0o755, files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// prefixed marks the engine image build's progress lines as the pool owner's.
type prefixed struct {
	w      io.Writer
	prefix string
}

func (p prefixed) Write(b []byte) (int, error) {
	if _, err := fmt.Fprintf(p.w, "%s%s", p.prefix, b); err != nil {
		return 0, err
	}
	return len(b), nil
}
