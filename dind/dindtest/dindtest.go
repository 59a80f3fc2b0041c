// Package dindtest runs bundle (Docker-in-Docker) containers for tests against the real engine:
// start with --privileged or, where the host refuses that, the equivalent capability set; wait
// for a log line, an exit, an HTTP answer or a healthy state; clean everything up afterwards.
// The runtime tests of dind/Dockerfile and dind/entrypoint.sh live here, and the end-to-end
// test of the whole pipeline reuses these helpers. It is a test kit: it imports testing, and
// the product (targets, pipeline, producer, cmd) must not import it.
package dindtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
)

// How a container got the privileges a nested engine needs.
const (
	ModePrivileged = "privileged"
	// ModeCaps is the fallback for hosts where --privileged fails ("unable to apply caps"
	// when CAP_SYS_RESOURCE is outside the host's bounding set): every other capability, no
	// seccomp/AppArmor confinement, unmasked /proc and /sys, and the cgroup tree writable.
	ModeCaps = "caps"
)

// RunSpec describes a bundle container.
type RunSpec struct {
	Name   string // container name
	Image  string
	Volume string // named volume for /var/lib/docker (created on demand); empty: none
	Env    []string
	// Ports are container ports ("8080/tcp") published on random 127.0.0.1 ports.
	Ports []string
	// StopTimeout in seconds; 0 means 60, what the entrypoint's shutdown needs.
	StopTimeout int
}

// Container is a started bundle container.
type Container struct {
	ID   string
	Name string
	Mode string // ModePrivileged or ModeCaps
}

// Run starts spec like Start and removes the container and its volume when the test ends
// (also when it fails). It fails the test if the container cannot start either way.
func Run(t testing.TB, api client.APIClient, spec RunSpec) Container {
	t.Helper()
	t.Cleanup(func() { Remove(t, api, spec.Name, spec.Volume) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, api, spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Start creates and starts a bundle container, trying --privileged first and falling back to
// the capability set of ApplyCaps when the engine cannot start a privileged container.
func Start(ctx context.Context, api client.APIClient, spec RunSpec) (Container, error) {
	privileged := hostConfig(spec)
	privileged.Privileged = true
	id, privErr := createAndStart(ctx, api, spec, privileged)
	if privErr == nil {
		return Container{ID: id, Name: spec.Name, Mode: ModePrivileged}, nil
	}
	caps := hostConfig(spec)
	ApplyCaps(caps)
	id, capsErr := createAndStart(ctx, api, spec, caps)
	if capsErr != nil {
		return Container{}, fmt.Errorf("run %s: privileged: %v; with capabilities: %w", spec.Name, privErr, capsErr)
	}
	return Container{ID: id, Name: spec.Name, Mode: ModeCaps}, nil
}

// ApplyCaps sets the fallback privileges on hc (see ModeCaps).
func ApplyCaps(hc *container.HostConfig) {
	hc.CapAdd = []string{"ALL"}
	hc.CapDrop = []string{"SYS_RESOURCE"}
	hc.SecurityOpt = []string{"seccomp=unconfined", "apparmor=unconfined"}
	// `--security-opt systempaths=unconfined` is a CLI option: it sends empty (not absent)
	// lists, which the engine takes as "mask nothing, make nothing read-only".
	hc.MaskedPaths, hc.ReadonlyPaths = []string{}, []string{}
	hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/sys/fs/cgroup", Target: "/sys/fs/cgroup"})
}

func hostConfig(spec RunSpec) *container.HostConfig {
	hc := &container.HostConfig{PortBindings: nat.PortMap{}}
	for _, p := range spec.Ports {
		hc.PortBindings[nat.Port(p)] = []nat.PortBinding{{HostIP: "127.0.0.1"}}
	}
	if spec.Volume != "" {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: spec.Volume, Target: "/var/lib/docker"})
	}
	return hc
}

func createAndStart(ctx context.Context, api client.APIClient, spec RunSpec, hc *container.HostConfig) (string, error) {
	stop := spec.StopTimeout
	if stop == 0 {
		stop = 60
	}
	cfg := &container.Config{Image: spec.Image, Env: spec.Env, StopTimeout: &stop, ExposedPorts: nat.PortSet{}}
	for _, p := range spec.Ports {
		cfg.ExposedPorts[nat.Port(p)] = struct{}{}
	}
	created, err := api.ContainerCreate(ctx, cfg, hc, nil, nil, spec.Name)
	if err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	if err := api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		_ = api.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		return "", fmt.Errorf("start: %w", err)
	}
	return created.ID, nil
}

// Remove force-removes the container name and the volume (either may be empty or gone),
// reporting other failures as test errors.
func Remove(t testing.TB, api client.APIClient, name, volume string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if name != "" {
		err := api.ContainerRemove(ctx, name, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: remove container %s: %v", name, err)
		}
	}
	if volume != "" {
		if err := api.VolumeRemove(ctx, volume, true); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: remove volume %s: %v", volume, err)
		}
	}
}

// Logs returns the container's stdout and stderr so far, interleaved in the order written.
func Logs(ctx context.Context, api client.APIClient, id string) (string, error) {
	rc, err := api.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", fmt.Errorf("logs of %s: %w", id, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return buf.String(), fmt.Errorf("logs of %s: %w", id, err)
	}
	return buf.String(), nil
}

// WaitForLog waits until the container's log holds substr at least n times and returns the
// log. It gives up early, with the log in the error, when the container stops running.
func WaitForLog(ctx context.Context, api client.APIClient, id, substr string, n int) (string, error) {
	for {
		logs, err := Logs(ctx, api, id)
		if err == nil && strings.Count(logs, substr) >= n {
			return logs, nil
		}
		info, ierr := api.ContainerInspect(ctx, id)
		if ierr == nil && info.State != nil && !info.State.Running && !info.State.Restarting {
			// Re-read once: the line may have been written just before the exit.
			if logs, err = Logs(ctx, api, id); err == nil && strings.Count(logs, substr) >= n {
				return logs, nil
			}
			return logs, fmt.Errorf("container %s exited (status %d) before logging %q ×%d; log:\n%s", id, info.State.ExitCode, substr, n, logs)
		}
		select {
		case <-ctx.Done():
			return logs, fmt.Errorf("waiting for %q ×%d in the log of %s: %w; log:\n%s", substr, n, id, ctx.Err(), logs)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// WaitForExit waits for the container to stop and returns its exit code.
func WaitForExit(ctx context.Context, api client.APIClient, id string) (int64, error) {
	waitC, errC := api.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		if w.Error != nil {
			return w.StatusCode, fmt.Errorf("wait for %s: %s", id, w.Error.Message)
		}
		return w.StatusCode, nil
	case err := <-errC:
		return 0, fmt.Errorf("wait for %s: %w", id, err)
	}
}

// WaitHealthy waits for the container's HEALTHCHECK to report healthy; it fails early when
// the container stops or turns unhealthy, quoting the last probe output.
func WaitHealthy(ctx context.Context, api client.APIClient, id string) error {
	for {
		info, err := api.ContainerInspect(ctx, id)
		if err != nil {
			return fmt.Errorf("inspect %s: %w", id, err)
		}
		if info.State == nil || !info.State.Running {
			return fmt.Errorf("container %s stopped while waiting for it to be healthy", id)
		}
		h := info.State.Health
		if h == nil {
			return fmt.Errorf("container %s has no healthcheck", id)
		}
		if h.Status == "healthy" {
			return nil
		}
		last := ""
		if len(h.Log) > 0 {
			last = strings.TrimSpace(h.Log[len(h.Log)-1].Output)
		}
		if h.Status == "unhealthy" {
			return fmt.Errorf("container %s is unhealthy: %s", id, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to be healthy (%s, last probe: %q): %w", id, h.Status, last, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Exec runs cmd in the container and returns its combined output and exit code.
func Exec(ctx context.Context, api client.APIClient, id string, cmd ...string) (string, int, error) {
	created, err := api.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return "", 0, fmt.Errorf("exec %v in %s: %w", cmd, id, err)
	}
	att, err := api.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return "", 0, fmt.Errorf("exec %v in %s: %w", cmd, id, err)
	}
	defer att.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		return out.String(), 0, fmt.Errorf("exec %v in %s: %w", cmd, id, err)
	}
	info, err := api.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return out.String(), 0, fmt.Errorf("exec %v in %s: %w", cmd, id, err)
	}
	return out.String(), info.ExitCode, nil
}

// HostAddr returns the 127.0.0.1:port the container's port ("8080/tcp") is published on.
// Ask again after a restart: the engine may pick a new port.
func HostAddr(ctx context.Context, api client.APIClient, id, port string) (string, error) {
	info, err := api.ContainerInspect(ctx, id)
	if err != nil {
		return "", fmt.Errorf("inspect %s: %w", id, err)
	}
	if info.NetworkSettings != nil {
		for _, b := range info.NetworkSettings.Ports[nat.Port(port)] {
			if b.HostPort != "" {
				return "127.0.0.1:" + b.HostPort, nil
			}
		}
	}
	return "", fmt.Errorf("container %s does not publish %s", id, port)
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
