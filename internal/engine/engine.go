// Package engine is the project's one way to talk to the Docker Engine: one constructor of the
// engine handle (Engine: the client, and what the engine is asked once per run) and the few
// operations the stages and the developer harness need (inspect-or-missing, pull, save, load,
// build, import, tag, remove; starting and watching bundle containers), each consuming its
// stream with the one message-stream renderer and returning the errors the stream carries.
// Every other package calls these instead of client.APIClient methods.
//
// It owns no files and no plans: it must not know the bundle's layout, the manifest or the
// layer store, and it must not import `testing` (its test kit is enginetest).
package engine

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/docker/docker/client"
)

// Engine is the handle of one engine: its client (embedded, so a handle goes wherever a
// client.APIClient does) and the facts a run asks it once and remembers — where it keeps its
// images (Store) and which engine it is (ID). Make one with New, or Of for a client made elsewhere.
type Engine struct {
	client.APIClient

	mu    sync.Mutex
	facts *facts // nil until the engine has answered docker info
}

// facts are what one `docker info` told of the engine.
type facts struct {
	store ImageStore
	id    string
}

// New returns the handle of the engine the docker CLI would use (DOCKER_HOST, then
// DOCKER_CONTEXT or the CLI's current context; unix://, tcp:// with TLS, and ssh:// through the
// CLI's connection helper), whose client negotiates the API version, so it works with Engine
// 20.10 (API 1.41) and current engines alike. Caller options come last and win. It connects
// only at the first call.
func New(opts ...client.Opt) (*Engine, error) {
	ep, err := ResolveEndpoint(os.Getenv)
	if err != nil {
		return nil, err
	}
	hostOpts, err := ep.options()
	if err != nil {
		return nil, err
	}
	all := append([]client.Opt{client.FromEnv}, hostOpts...)
	all = append(all, client.WithAPIVersionNegotiation())
	c, err := client.NewClientWithOpts(append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("create Docker client for %s (check DOCKER_HOST or DOCKER_CONTEXT): %w", ep, err)
	}
	return &Engine{APIClient: c}, nil
}

// NewAt returns the handle of the engine at host, a DOCKER_HOST address (unix://, tcp://,
// ssh:// through the CLI's connection helper), whatever DOCKER_HOST and the CLI's context say:
// another engine than the run's, e.g. a builder's. Its client negotiates the API version and
// connects only at the first call.
func NewAt(host string) (*Engine, error) {
	if err := checkHost(host); err != nil {
		return nil, fmt.Errorf("engine %q %w", host, err)
	}
	hostOpts, err := Endpoint{Host: host}.options()
	if err != nil {
		return nil, err
	}
	c, err := client.NewClientWithOpts(append(hostOpts, client.WithAPIVersionNegotiation())...)
	if err != nil {
		return nil, fmt.Errorf("create Docker client for %s: %w", host, err)
	}
	return &Engine{APIClient: c}, nil
}

// Of is the handle of api: api itself when it is a handle already (as bufio.NewReader returns
// the *bufio.Reader it is given), so a package handed the run's handle as a client.APIClient
// asks the engine nothing again; otherwise a new handle around api (a test's counting client).
func Of(api client.APIClient) *Engine {
	if e, ok := api.(*Engine); ok {
		return e
	}
	return &Engine{APIClient: api}
}

// Store reports where the engine keeps its images. The engine is asked (`docker info`) the
// first time only; a failed question is asked again next time.
func (e *Engine) Store(ctx context.Context) (ImageStore, error) {
	f, err := e.answer(ctx)
	return f.store, err
}

// ID is the engine's ID (`docker info`'s ID, kept in its data root): the same engine gives the
// same ID whichever address reaches it (a unix socket, tcp://, ssh://), so two handles that
// answer the same ID are one engine. Asked with Store, once.
func (e *Engine) ID(ctx context.Context) (string, error) {
	f, err := e.answer(ctx)
	return f.id, err
}

// answer asks docker info the first time and remembers what it said.
func (e *Engine) answer(ctx context.Context) (facts, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.facts != nil {
		return *e.facts, nil
	}
	info, err := Info(ctx, e.APIClient)
	if err != nil {
		return facts{}, err
	}
	e.facts = &facts{store: storeOf(info.DriverStatus), id: info.ID}
	return *e.facts, nil
}
