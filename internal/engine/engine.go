// Package engine is the project's one way to talk to the Docker Engine: one client constructor
// and the few operations the stages and the developer harness need (inspect-or-missing, pull,
// save, load, build, import, tag, remove; starting and watching bundle containers), each
// consuming its stream with the one message-stream renderer and returning the errors the stream
// carries. Every other package calls these instead of client.APIClient methods.
//
// It owns no files and no plans: it must not know the bundle's layout, the manifest or the
// layer store, and it must not import `testing` (its test kit is enginetest).
package engine

import (
	"fmt"
	"os"

	"github.com/docker/docker/client"
)

// New returns a client for the engine the docker CLI would use (DOCKER_HOST, then DOCKER_CONTEXT
// or the CLI's current context; unix://, tcp:// with TLS, and ssh:// through the CLI's
// connection helper) that negotiates the API version, so it works with Engine 20.10 (API 1.41)
// and current engines alike. Caller options come last and win.
func New(opts ...client.Opt) (*client.Client, error) {
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
	return c, nil
}
