// Package engine is the project's one way to talk to the Docker Engine: one client constructor
// and the few operations the stages need, each consuming its stream and checking the errors the
// stream carries.
package engine

import (
	"fmt"

	"github.com/docker/docker/client"
)

// New returns a client configured from the environment (DOCKER_HOST, DOCKER_CERT_PATH, …) that
// negotiates the API version, so it works with Engine 20.10 (API 1.41) and current engines alike.
// Caller options come last and win.
func New(opts ...client.Opt) (*client.Client, error) {
	all := append([]client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}, opts...)
	c, err := client.NewClientWithOpts(all...)
	if err != nil {
		return nil, fmt.Errorf("create Docker client (check DOCKER_HOST): %w", err)
	}
	return c, nil
}
