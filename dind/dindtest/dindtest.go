// Package dindtest is the test kit for bundle (Docker-in-Docker) containers: it starts one
// through engine.StartDinD for a test and removes it, with its volume, when the test ends, and
// polls HTTP endpoints. The container helpers themselves (start, logs, wait, exec) live in
// internal/engine, so shipped code never imports this package (nor `testing`). The runtime
// tests of dind/Dockerfile and dind/entrypoint.sh live here, and the end-to-end test of the
// whole pipeline reuses this kit.
package dindtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/internal/engine"
)

// Run starts spec like engine.StartDinD and removes the container and its volume when the test
// ends (also when it fails). It fails the test if the container cannot start either way.
func Run(t testing.TB, api client.APIClient, spec engine.RunSpec) engine.Container {
	t.Helper()
	t.Cleanup(func() { Remove(t, api, spec.Name, spec.Volume) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := engine.StartDinD(ctx, api, spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Remove force-removes the container name and the volume (either may be empty or gone),
// reporting other failures as test errors.
func Remove(t testing.TB, api client.APIClient, name, volume string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := engine.RemoveContainer(ctx, api, name, volume); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// WaitHTTP polls url until it answers 200 and returns the body.
func WaitHTTP(ctx context.Context, url string) (string, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", err
		}
		resp, err := hc.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && rerr == nil {
				return string(body), nil
			}
			err = errors.Join(fmt.Errorf("status %s", resp.Status), rerr)
		}
		last = err
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("GET %s: no answer (last: %v): %w", url, last, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
