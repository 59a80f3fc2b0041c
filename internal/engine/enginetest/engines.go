package enginetest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/matrix"
)

// EnginesEnv selects the engines Engines returns: a comma-separated list of HostEngine and
// the names of Flavours, e.g. TEST_ENGINES=host,28-classic,28-containerd. Unset: host only.
const EnginesEnv = "TEST_ENGINES"

// HostEngine is the engine at DOCKER_HOST (or the default socket), the one Client returns.
const HostEngine = matrix.HostEngine

// EngineSuite is the Debian release the matrix engines are built from (base.MatrixSuite).
const EngineSuite = base.MatrixSuite

// EngineImage is the image the matrix engines run (package matrix starts them).
var EngineImage = base.MatrixImage.Tag

// Flavour is one outer engine of the matrix: an engine release with one image store.
type Flavour = matrix.Flavour

// Flavours are the matrix engines besides the host's.
var Flavours = matrix.Flavours

// SelectEngines parses a TEST_ENGINES value: names in the order given, duplicates dropped;
// empty means host only. An unknown name is an error listing the known ones.
func SelectEngines(value string) ([]string, error) { return matrix.Select(EnginesEnv, value) }

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
		out = append(out, named(t, n))
	}
	return out
}

// Named returns the engine called name (HostEngine or a flavour's name) whatever TEST_ENGINES
// selects: for a test that needs one engine release, e.g. Engine 26.1 ("26-classic"), which CI's
// default TEST_ENGINES leaves out. Like Engines, a matrix engine needs the package's tests run
// through Main.
func Named(t testing.TB, name string) Engine {
	t.Helper()
	if _, err := SelectEngines(name); err != nil {
		t.Fatal(err)
	}
	return named(t, name)
}

func named(t testing.TB, n string) Engine {
	t.Helper()
	e := Engine{Name: n}
	for i := range Flavours {
		if Flavours[i].Name == n {
			e.flavor = &Flavours[i]
		}
	}
	if e.flavor != nil && !mainRuns {
		t.Fatalf("the test asks for the matrix engine %s, which only a test binary run through enginetest.Main removes again: add `func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }` to the package's tests", n)
	}
	return e
}

// Matrix reports whether e is an engine of the matrix (a container on the host engine) rather
// than the host's own.
func (e Engine) Matrix() bool { return e.flavor != nil }

// Containerd reports whether e is a matrix engine with the containerd image store.
func (e Engine) Containerd() bool { return e.flavor != nil && e.flavor.Containerd }

// Client returns a client of e, closed when the test ends, starting e first if it is a matrix
// engine that has not started yet. A start failure fails the test with the engine's log.
func (e Engine) Client(t testing.TB) *engine.Engine {
	t.Helper()
	if e.flavor == nil {
		return Client(t)
	}
	if os.Getenv(SkipEnv) == "1" {
		t.Skip(SkipEnv + "=1: skipping a test that needs a Docker engine")
	}
	r := e.started(t)
	c, err := engine.New(client.WithHost(r.Host))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.NegotiateAPIVersion(ctx)
	return c
}

// Fresh starts a second engine of e's flavour for the length of the test — a new machine's empty
// engine, sharing nothing with e but the host — and returns a client of it. The host engine has
// no second: the test is skipped there.
func (e Engine) Fresh(t testing.TB) *engine.Engine {
	t.Helper()
	return e.Disposable(t).Engine
}

// Disposable is a second engine of a test's own (Engine.Disposable): its client, and what the
// test may do to the container it runs in.
type Disposable struct {
	*engine.Engine
	id   string // its container on the host engine
	host *engine.Engine
}

// Disposable starts a second engine of e's flavour for the length of the test, as Fresh does,
// which the test may also look into (Processes) and take away (Kill). The host engine has no
// second: the test is skipped there.
func (e Engine) Disposable(t testing.TB) *Disposable {
	t.Helper()
	if e.flavor == nil {
		t.Skip("a fresh engine is a second matrix engine: the host engine has none")
	}
	if os.Getenv(SkipEnv) == "1" {
		t.Skip(SkipEnv + "=1: skipping a test that needs a Docker engine")
	}
	fresh := &matrix.Pool{Image: base.MatrixImage, Images: base.MatrixImages, Log: os.Stderr, Prefix: "enginetest: fresh "}
	t.Cleanup(func() {
		if err := fresh.Stop(); err != nil {
			t.Errorf("remove the fresh %s engine: %v", e.Name, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, r, err := fresh.Client(ctx, *e.flavor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Disposable{Engine: c, id: r.ID, host: Client(t)}
}

// Kill takes the engine away at once, as a machine that disappears: its container is killed
// (SIGKILL) and removed, with its volume; its address then refuses connections.
func (d *Disposable) Kill(ctx context.Context) error {
	if err := matrix.Remove(ctx, d.host, d.id); err != nil {
		return fmt.Errorf("kill the engine container %s: %w", d.id[:12], err)
	}
	return nil
}

// Processes are the command lines of the processes in the engine's container (`ps -eo args`):
// the engine's own, and its containers' and builds' steps, which run nested in it.
func (d *Disposable) Processes(ctx context.Context) ([]string, error) {
	out, code, err := engine.Exec(ctx, d.host, d.id, "ps", "-eo", "args")
	if err == nil && code != 0 {
		err = fmt.Errorf("exit code %d: %s", code, out)
	}
	if err != nil {
		return nil, fmt.Errorf("list the processes of engine container %s: %w", d.id[:12], err)
	}
	return strings.Split(strings.TrimSpace(out), "\n"), nil
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
func (e Engine) started(t testing.TB) matrix.Running {
	t.Helper()
	r, err := pool.Running(*e.flavor)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pool holds the matrix engines this test binary started, until Main stops them.
var pool = &matrix.Pool{Image: base.MatrixImage, Images: base.MatrixImages, Log: os.Stderr, Prefix: "enginetest: "}

// mainRuns is set by Main: matrix engines may start only when something removes them again.
var mainRuns bool

// Main runs the tests and then removes the matrix engines they started. Use it from TestMain
// in every package whose tests call Engines:
//
//	func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }
func Main(m *testing.M) int {
	mainRuns = true
	code := m.Run()
	if err := pool.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "enginetest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Each runs fn as one subtest per engine Engines selects, named by engine, with a client of it.
func Each(t *testing.T, fn func(t *testing.T, e Engine, c *engine.Engine)) {
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
		ip = r.RegistryIP
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
	t0 := time.Now()
	copied, err := engine.Copy(ctx, Client(t), c, ref)
	if err != nil {
		t.Fatalf("from the host engine to %s: %v", e.Name, err)
	}
	if copied {
		t.Logf("copied %s from the host engine to %s in %s", ref, e.Name, time.Since(t0).Round(100*time.Millisecond))
	}
}

// Env is the environment a subprocess (the docker CLI, `go run magefile.go`) needs to talk to
// e: nothing for the host engine, DOCKER_HOST (and no context) for a matrix engine.
func (e Engine) Env(t testing.TB) []string {
	t.Helper()
	if e.flavor == nil {
		return nil
	}
	return e.started(t).Env()
}
