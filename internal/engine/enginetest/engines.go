package enginetest

import (
	"archive/tar"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/internal/engine"
)

// EnginesEnv selects the engines Engines returns: a comma-separated list of HostEngine and
// the names of Flavours, e.g. TEST_ENGINES=host,28-classic,28-containerd. Unset: host only.
const EnginesEnv = "TEST_ENGINES"

// HostEngine is the engine at DOCKER_HOST (or the default socket), the one Client returns.
const HostEngine = "host"

// EngineSuite is the Debian release the matrix engines are built from (base.Suites).
const EngineSuite = "forky"

// EngineImage is the image the matrix engines run: the DinD base of EngineSuite (Debian
// packages only), built once by base.Ensure on the host engine and kept by tag.
var EngineImage = base.TagFor(EngineSuite)

// Flavour is one outer engine of the matrix: Engine 28.5 from Debian forky with one image store.
type Flavour struct {
	Name string
	// Containerd selects the containerd image store (features.containerd-snapshotter).
	Containerd bool
}

// Flavours are the matrix engines besides the host's.
var Flavours = []Flavour{
	{Name: "28-classic"},
	{Name: "28-containerd", Containerd: true},
}

// SelectEngines parses a TEST_ENGINES value: names in the order given, duplicates dropped;
// empty means host only. An unknown name is an error listing the known ones.
func SelectEngines(value string) ([]string, error) {
	known := []string{HostEngine}
	for _, f := range Flavours {
		known = append(known, f.Name)
	}
	var out []string
	for _, n := range strings.Split(value, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
		case !slices.Contains(known, n):
			return nil, fmt.Errorf("%s=%s: unknown engine %q, want a comma-separated list of %s", EnginesEnv, value, n, strings.Join(known, ", "))
		case !slices.Contains(out, n):
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		out = []string{HostEngine}
	}
	return out, nil
}

// DaemonConfig is the /etc/docker/daemon.json of a matrix engine: its image store, and the
// host address the test registries listen on (registry, host:port or an address), which the
// engine may then reach over plain HTTP. Only loopback registries are insecure by default.
func DaemonConfig(f Flavour, registry string) ([]byte, error) {
	cfg := map[string]any{
		"features": map[string]bool{"containerd-snapshotter": f.Containerd},
	}
	if registry != "" {
		ip := net.ParseIP(registry)
		if ip == nil {
			return nil, fmt.Errorf("daemon.json for %s: registry address %q is not an IP address", f.Name, registry)
		}
		bits := 32
		if ip.To4() == nil {
			bits = 128
		}
		cfg["insecure-registries"] = []string{fmt.Sprintf("%s/%d", ip, bits)}
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// Engine is one engine the integration tests run against.
type Engine struct {
	Name   string
	flavor *Flavour // nil for the host engine
}

// Engines returns the engines TEST_ENGINES selects (host only by default), for a test to run
// its cases on each as subtests named by engine:
//
//	for _, e := range enginetest.Engines(t) {
//		t.Run(e.Name, func(t *testing.T) { c := e.Client(t); … })
//	}
//
// Matrix engines start on first use, once per test binary, and are removed when it ends: the
// package's TestMain must run the tests through Main.
func Engines(t testing.TB) []Engine {
	t.Helper()
	names, err := SelectEngines(os.Getenv(EnginesEnv))
	if err != nil {
		t.Fatal(err)
	}
	var out []Engine
	for _, n := range names {
		e := Engine{Name: n}
		for i := range Flavours {
			if Flavours[i].Name == n {
				e.flavor = &Flavours[i]
			}
		}
		if e.flavor != nil && !mainRuns {
			t.Fatalf("%s=%s selects the matrix engine %s, which only a test binary run through enginetest.Main removes again: add `func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }` to the package's tests", EnginesEnv, os.Getenv(EnginesEnv), n)
		}
		out = append(out, e)
	}
	return out
}

// Matrix reports whether e is an engine of the matrix (a container on the host engine) rather
// than the host's own.
func (e Engine) Matrix() bool { return e.flavor != nil }

// Containerd reports whether e is a matrix engine with the containerd image store.
func (e Engine) Containerd() bool { return e.flavor != nil && e.flavor.Containerd }

// Client returns a client of e, closed when the test ends, starting e first if it is a matrix
// engine that has not started yet. A start failure fails the test with the engine's log.
func (e Engine) Client(t testing.TB) *client.Client {
	t.Helper()
	if e.flavor == nil {
		return Client(t)
	}
	if os.Getenv(SkipEnv) == "1" {
		t.Skip(SkipEnv + "=1: skipping a test that needs a Docker engine")
	}
	r := e.started(t)
	c, err := engine.New(client.WithHost(r.host))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.NegotiateAPIVersion(ctx)
	return c
}

// Registry starts an in-memory registry for the length of the test that e can pull from and
// returns its host:port, usable in references for PushRandom and for e's pulls alike. For the
// host engine it listens on 127.0.0.1 (Registry); for a matrix engine on the host's address
// on the engine container's network, which the engine's daemon.json lists as insecure.
func (e Engine) Registry(t testing.TB) (host string) {
	t.Helper()
	return e.Serve(t, newRegistry())
}

// started returns the running matrix engine e, starting it first if needed; a failure to
// start fails the test.
func (e Engine) started(t testing.TB) running {
	t.Helper()
	r, err := matrix.running(*e.flavor)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mainRuns is set by Main: matrix engines may start only when something removes them again.
var mainRuns bool

// Main runs the tests and then removes the matrix engines they started. Use it from TestMain
// in every package whose tests call Engines:
//
//	func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }
func Main(m *testing.M) int {
	mainRuns = true
	code := m.Run()
	if err := matrix.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "enginetest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Labels on the matrix engine containers: which flavour, and which process owns it, so a later
// run can remove containers whose test binary died before Main could.
const (
	flavourLabel = "io.dindbundler.enginetest.flavour"
	ownerLabel   = "io.dindbundler.enginetest.owner"
)

type running struct {
	id         string // container ID on the host engine
	host       string // DOCKER_HOST of the engine, tcp://127.0.0.1:PORT
	registryIP string // host address the engine reaches registries at
	how        string // which docker run flags worked
	pid        int    // the engine container's init process on this machine
}

type startResult struct {
	r   running
	err error
}

// matrixState holds the engines this test binary started and the host engine's client that
// created them; both live until Main stops them.
type matrixState struct {
	mu      sync.Mutex
	host    *client.Client
	image   error // result of ensuring EngineImage, once
	imaged  bool
	started map[string]*startResult
}

var matrix = &matrixState{started: map[string]*startResult{}}

func (m *matrixState) running(f Flavour) (running, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.started[f.Name]; ok {
		return s.r, s.err
	}
	r, err := m.start(f)
	m.started[f.Name] = &startResult{r, err}
	return r, err
}

func (m *matrixState) start(f Flavour) (running, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if m.host == nil {
		c, err := engine.New()
		if err != nil {
			return running{}, err
		}
		m.host = c
		if err := removeStale(ctx, c); err != nil {
			return running{}, err
		}
	}
	if !m.imaged {
		m.imaged = true
		t0 := time.Now()
		built, err := base.Ensure(ctx, m.host, base.Options{Tag: EngineImage, Suite: EngineSuite, Progress: prefixed{os.Stderr}})
		if err != nil {
			m.image = fmt.Errorf("engine matrix: build the engine image %s: %w", EngineImage, err)
		} else if built {
			fmt.Fprintf(os.Stderr, "enginetest: built %s in %s\n", EngineImage, time.Since(t0).Round(100*time.Millisecond))
		}
	}
	if m.image != nil {
		return running{}, m.image
	}
	t0 := time.Now()
	r, err := startEngine(ctx, m.host, f)
	if err != nil {
		return running{}, fmt.Errorf("engine matrix: start %s: %w", f.Name, err)
	}
	fmt.Fprintf(os.Stderr, "enginetest: %s (%s) answers at %s after %s\n", f.Name, r.how, r.host, time.Since(t0).Round(100*time.Millisecond))
	return r, nil
}

func (m *matrixState) stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.host == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for name, s := range m.started {
		if s.err == nil {
			if err := removeEngine(ctx, m.host, s.r.id); err != nil {
				errs = append(errs, fmt.Errorf("remove engine %s: %w", name, err))
			}
		}
	}
	m.started = map[string]*startResult{}
	errs = append(errs, m.host.Close())
	m.host = nil
	return errors.Join(errs...)
}

//go:embed engine-start.sh
var startScript []byte

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

// firstWorking is the first of dindHostConfigs that started an engine in this binary (under
// matrix.mu).
var firstWorking int

type namedHostConfig struct {
	name string
	hc   container.HostConfig
}

// startEngine runs a container of EngineImage as flavour f and waits until its dockerd answers.
func startEngine(ctx context.Context, api *client.Client, f Flavour) (running, error) {
	gw, err := bridgeGateway(ctx, api)
	if err != nil {
		return running{}, err
	}
	daemonJSON, err := DaemonConfig(f, gw)
	if err != nil {
		return running{}, err
	}
	files, err := tarOf(map[string][]byte{
		"etc/docker/daemon.json":         daemonJSON,
		"usr/local/bin/enginetest-start": startScript,
	})
	if err != nil {
		return running{}, err
	}
	hostname, _ := os.Hostname()
	cfg := &container.Config{
		Image:        EngineImage,
		Entrypoint:   []string{"/bin/sh", "/usr/local/bin/enginetest-start"},
		Cmd:          []string{},
		ExposedPorts: nat.PortSet{"2375/tcp": {}},
		Labels:       map[string]string{flavourLabel: f.Name, ownerLabel: hostname + ":" + strconv.Itoa(os.Getpid())},
	}
	var startErrs []error
	for i, nhc := range dindHostConfigs() {
		if i < firstWorking {
			continue // failed for an earlier engine of this binary
		}
		created, err := api.ContainerCreate(ctx, cfg, &nhc.hc, nil, nil, "")
		if err != nil {
			return running{}, fmt.Errorf("create a container of %s: %w", EngineImage, err)
		}
		id := created.ID
		if err := api.CopyToContainer(ctx, id, "/", bytes.NewReader(files), container.CopyToContainerOptions{}); err != nil {
			_ = removeEngine(ctx, api, id)
			return running{}, fmt.Errorf("copy the start script and daemon.json into %s: %w", id[:12], err)
		}
		if err := api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
			_ = removeEngine(ctx, api, id)
			startErrs = append(startErrs, fmt.Errorf("%s: %w", nhc.name, err))
			continue // e.g. "unable to apply caps" for --privileged here
		}
		r, err := waitEngine(ctx, api, id)
		if err != nil {
			_ = removeEngine(ctx, api, id)
			return running{}, err
		}
		r.registryIP, r.how = gw, nhc.name
		firstWorking = i
		return r, nil
	}
	return running{}, fmt.Errorf("no way to run a nested engine here (tried --privileged, then --cap-add ALL --cap-drop SYS_RESOURCE with unconfined seccomp/apparmor/systempaths): %w", errors.Join(startErrs...))
}

// waitEngine reads the published port and polls `docker info` on it for up to 90 s.
func waitEngine(ctx context.Context, api *client.Client, id string) (running, error) {
	info, err := api.ContainerInspect(ctx, id)
	if err != nil {
		return running{}, fmt.Errorf("inspect engine container %s: %w", id[:12], err)
	}
	bindings := info.NetworkSettings.Ports["2375/tcp"]
	if len(bindings) == 0 {
		return running{}, fmt.Errorf("engine container %s publishes no port for 2375/tcp", id[:12])
	}
	r := running{id: id, host: "tcp://" + net.JoinHostPort("127.0.0.1", bindings[0].HostPort), pid: info.State.Pid}
	c, err := engine.New(client.WithHost(r.host))
	if err != nil {
		return running{}, err
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
			return running{}, fmt.Errorf("engine container %s exited (status %d) before dockerd answered; its log:\n%s", id[:12], st.State.ExitCode, logTail(ctx, api, id))
		}
		if time.Now().After(deadline) {
			return running{}, fmt.Errorf("dockerd in engine container %s did not answer at %s within 90 s (%v); its log:\n%s", id[:12], r.host, err, logTail(ctx, api, id))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func logTail(ctx context.Context, api *client.Client, id string) string {
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
// (docker0), which exists only when the test runs on the engine's machine.
func bridgeGateway(ctx context.Context, api *client.Client) (string, error) {
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

func removeEngine(ctx context.Context, api *client.Client, id string) error {
	err := api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !strings.Contains(strings.ToLower(err.Error()), "no such container") {
		return err
	}
	return nil
}

// removeStale removes engine containers of this machine whose owning test process is gone (a
// binary killed by a timeout never reaches Main's cleanup).
func removeStale(ctx context.Context, api *client.Client) error {
	list, err := api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", ownerLabel))})
	if err != nil {
		return fmt.Errorf("list engine containers: %w", err)
	}
	hostname, _ := os.Hostname()
	for _, c := range list {
		host, pidText, _ := strings.Cut(c.Labels[ownerLabel], ":")
		pid, err := strconv.Atoi(pidText)
		if host != hostname || err != nil || processAlive(pid) {
			continue
		}
		if err := removeEngine(ctx, api, c.ID); err != nil {
			return fmt.Errorf("remove stale engine container %s: %w", c.ID[:12], err)
		}
	}
	return nil
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
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(files[n])), ModTime: time.Unix(1_600_000_000, 0)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// prefixed marks the engine image build's progress lines as the kit's.
type prefixed struct{ w io.Writer }

func (p prefixed) Write(b []byte) (int, error) {
	if _, err := fmt.Fprintf(p.w, "enginetest: %s", b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Each runs fn as one subtest per engine Engines selects, named by engine, with a client of it.
func Each(t *testing.T, fn func(t *testing.T, e Engine, c *client.Client)) {
	t.Helper()
	for _, e := range Engines(t) {
		t.Run(e.Name, func(t *testing.T) { fn(t, e, e.Client(t)) })
	}
}

// Serve serves h for the length of the test where e reaches it over plain HTTP and returns its
// host:port: 127.0.0.1 for the host engine, the host's bridge address for a matrix engine.
func (e Engine) Serve(t testing.TB, h http.Handler) (host string) {
	t.Helper()
	ip := "127.0.0.1"
	if e.flavor != nil {
		r := e.started(t)
		ip = r.registryIP
	}
	return serveOn(t, ip, h)
}

// FromHost makes the image ref, which must exist on the host engine, available on e: a no-op
// for the host engine; for a matrix engine one `docker save` streamed into `docker load`, the
// first time only (the engine keeps it until the test binary ends). This is how a test gets a
// large local image (the DinD base) onto a fresh engine without a registry.
func (e Engine) FromHost(t testing.TB, ref string) {
	t.Helper()
	if e.flavor == nil {
		return
	}
	c := e.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := c.ImageInspect(ctx, ref); err == nil {
		return
	}
	host := Client(t)
	t0 := time.Now()
	rc, err := host.ImageSave(ctx, []string{ref})
	if err != nil {
		t.Fatalf("save %s on the host engine: %v", ref, err)
	}
	defer rc.Close()
	if err := engine.Load(ctx, c, rc, nil); err != nil {
		t.Fatalf("copy %s from the host engine to %s: %v", ref, e.Name, err)
	}
	t.Logf("copied %s from the host engine to %s in %s", ref, e.Name, time.Since(t0).Round(100*time.Millisecond))
}

// Env is the environment a subprocess (the docker CLI, `go run magefile.go`) needs to talk to
// e: nothing for the host engine, DOCKER_HOST (and no context) for a matrix engine.
func (e Engine) Env(t testing.TB) []string {
	t.Helper()
	if e.flavor == nil {
		return nil
	}
	r := e.started(t)
	return []string{"DOCKER_HOST=" + r.host, "DOCKER_CONTEXT=", "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH="}
}
