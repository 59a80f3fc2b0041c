// Package matrix starts and stops the outer engines of the engine matrix: Docker Engine 28.5
// from Debian forky, with the classic and with the containerd image store, and Engine 26.1
// from Debian trixie with the classic store (asked for by name only), run as containers
// on the host's engine and reached at tcp://127.0.0.1:PORT. The tests use it through their kit
// (enginetest: TEST_ENGINES), the benchmark directly (BENCH_ENGINES).
//
// It is part of the engine layer: like package engine it calls the Docker API itself, and it
// must not import `testing` or any test kit (shipped binaries link it through dev/bench). It
// owns the engine containers (labelled, so a later run removes those of a dead process) and
// nothing of the bundle; the images the engines run come from its owner (Pool.Image and
// Pool.Images: package dind/base's MatrixImage and MatrixImages), so the engine layer imports
// nothing above it.
package matrix

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"github.com/docker/docker/client"
)

// HostEngine is the engine at DOCKER_HOST (or the default socket): the one the matrix engines
// run on.
const HostEngine = "host"

// Image is an image the matrix engines run (a Docker Engine with dockerd and a shell) and
// how it is made on the host engine when missing: Ensure builds it unless Tag exists, writes
// its progress to progress (nil: quiet) and reports whether it built it.
type Image struct {
	Tag    string
	Ensure func(ctx context.Context, host client.APIClient, progress io.Writer) (built bool, err error)
}

// Flavour is one outer engine of the matrix: an engine release with one image store.
type Flavour struct {
	Name string
	// Containerd selects the containerd image store (features.containerd-snapshotter).
	Containerd bool
	// Engine is the release it runs, a key of Pool.Images (e.g. Engine26); empty: Pool.Image,
	// Engine 28.5.
	Engine string
}

// Engine26 is the Flavour.Engine of Engine 26.1 (Debian trixie's docker.io).
const Engine26 = "26.1"

// Flavours are the matrix engines besides the host's. 26-classic is not in CI's default
// TEST_ENGINES (CI time): the tests that need it ask for it by name.
var Flavours = []Flavour{
	{Name: "28-classic"},
	{Name: "28-containerd", Containerd: true},
	{Name: "26-classic", Engine: Engine26},
}

// Lookup returns the flavour called name; false for the host engine and unknown names.
func Lookup(name string) (Flavour, bool) {
	for _, f := range Flavours {
		if f.Name == name {
			return f, true
		}
	}
	return Flavour{}, false
}

// Select parses a list of engines as the variable (e.g. TEST_ENGINES, BENCH_ENGINES) holds it:
// HostEngine and names of Flavours, comma separated, in the order given, duplicates dropped;
// empty means host only. An unknown name is an error naming the variable and the known names.
func Select(variable, value string) ([]string, error) {
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
			return nil, fmt.Errorf("%s=%s: unknown engine %q, want a comma-separated list of %s", variable, value, n, strings.Join(known, ", "))
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
// host address the test registries listen on (registry, an IP address), which the engine may
// then reach over plain HTTP. Only loopback registries are insecure by default.
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

// Running is a started matrix engine.
type Running struct {
	Flavour    Flavour
	ID         string // container ID on the host engine
	Host       string // DOCKER_HOST of the engine, tcp://127.0.0.1:PORT
	RegistryIP string // host address the engine reaches registries at
	How        string // which docker run flags worked
	Pid        int    // the engine container's init process on this machine
}

// Env is what a subprocess (the docker CLI, a mage binary) needs in its environment to talk to
// the engine: DOCKER_HOST, and no context or TLS settings of the caller's.
func (r Running) Env() []string {
	return []string{"DOCKER_HOST=" + r.Host, "DOCKER_CONTEXT=", "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH="}
}

// WithEnv is environ (os.Environ's shape) with set's variables (KEY=VALUE) replacing any of
// the same name, in environ's order, then the new ones.
func WithEnv(environ, set []string) []string {
	keys := map[string]bool{}
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	out := make([]string, 0, len(environ)+len(set))
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); !keys[k] {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}
