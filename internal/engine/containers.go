package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/dindbundler/dindbundler/internal/tarball"
)

// How a container got the privileges a nested engine needs.
const (
	ModePrivileged = "privileged"
	// ModeCaps is the fallback for hosts where --privileged fails ("unable to apply caps"
	// when CAP_SYS_RESOURCE is outside the host's bounding set): every other capability, no
	// seccomp/AppArmor confinement, unmasked /proc and /sys, and the cgroup tree writable.
	ModeCaps = "caps"
)

// RunSpec describes a bundle (Docker-in-Docker) container.
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

// StartDinD creates and starts a bundle container, trying --privileged first and falling back
// to ApplyCaps when the engine cannot start a privileged container.
func StartDinD(ctx context.Context, api client.ContainerAPIClient, spec RunSpec) (Container, error) {
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

func createAndStart(ctx context.Context, api client.ContainerAPIClient, spec RunSpec, hc *container.HostConfig) (string, error) {
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

// StartContainer starts the existing container id (again, after StopContainer).
func StartContainer(ctx context.Context, api client.ContainerAPIClient, id string) error {
	if err := api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	return nil
}

// StopContainer stops the container id, giving it its own stop timeout.
func StopContainer(ctx context.Context, api client.ContainerAPIClient, id string) error {
	if err := api.ContainerStop(ctx, id, container.StopOptions{}); err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	return nil
}

// InspectContainer returns the engine's view of the container id (state, ports, health).
func InspectContainer(ctx context.Context, api client.ContainerAPIClient, id string) (container.InspectResponse, error) {
	info, err := api.ContainerInspect(ctx, id)
	if err != nil {
		return container.InspectResponse{}, fmt.Errorf("inspect %s: %w", id, err)
	}
	return info, nil
}

// RemoveContainer force-removes the container name and the volume (either may be empty or
// already gone).
func RemoveContainer(ctx context.Context, api client.APIClient, name, volume string) error {
	var errs []error
	if name != "" {
		err := api.ContainerRemove(ctx, name, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", name, err))
		}
	}
	if volume != "" {
		if err := api.VolumeRemove(ctx, volume, true); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", volume, err))
		}
	}
	return errors.Join(errs...)
}

// RemoveNamed force-removes every container and volume whose name starts with prefix. Objects
// already gone are fine; every other failure is returned.
func RemoveNamed(ctx context.Context, api client.APIClient, prefix string) error {
	var errs []error
	containers, err := api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("name", prefix))})
	if err != nil {
		errs = append(errs, fmt.Errorf("list containers: %w", err))
	}
	for _, c := range containers {
		for _, n := range c.Names {
			// The name filter matches anywhere in the name; only ours start with the prefix.
			if strings.HasPrefix(strings.TrimPrefix(n, "/"), prefix) {
				if err := api.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("remove container %s: %w", n, err))
				}
				break
			}
		}
	}
	vols, err := api.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("name", prefix))})
	if err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	}
	for _, v := range vols.Volumes {
		if strings.HasPrefix(v.Name, prefix) {
			if err := api.VolumeRemove(ctx, v.Name, true); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Logs returns the container's stdout and stderr so far, interleaved in the order written.
func Logs(ctx context.Context, api client.ContainerAPIClient, id string) (string, error) {
	return logs(ctx, api, id, false)
}

// TimedLogs is Logs with each line prefixed by the engine's RFC 3339 timestamp of it (`docker
// logs -t`): where a container's start spends its time.
func TimedLogs(ctx context.Context, api client.ContainerAPIClient, id string) (string, error) {
	return logs(ctx, api, id, true)
}

func logs(ctx context.Context, api client.ContainerAPIClient, id string, timestamps bool) (string, error) {
	rc, err := api.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: timestamps})
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
func WaitForLog(ctx context.Context, api client.ContainerAPIClient, id, substr string, n int) (string, error) {
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
func WaitForExit(ctx context.Context, api client.ContainerAPIClient, id string) (int64, error) {
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
func WaitHealthy(ctx context.Context, api client.ContainerAPIClient, id string) error {
	for {
		info, err := InspectContainer(ctx, api, id)
		if err != nil {
			return err
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
func Exec(ctx context.Context, api client.ContainerAPIClient, id string, cmd ...string) (string, int, error) {
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

// CopyFile writes data as dir/name (mode) into container id's file system; dir must exist.
func CopyFile(ctx context.Context, api client.ContainerAPIClient, id, dir, name string, data []byte, mode int64) error {
	var archive bytes.Buffer
	tw := tarball.NewWriter(&archive)
	if err := tw.File(name, mode, data); err != nil {
		return fmt.Errorf("copy %s into %s:%s: %w", name, id, dir, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("copy %s into %s:%s: %w", name, id, dir, err)
	}
	if err := api.CopyToContainer(ctx, id, dir, &archive, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("copy %s into %s:%s: %w", name, id, dir, err)
	}
	return nil
}

// HostAddr returns the 127.0.0.1:port the container's port ("8080/tcp") is published on.
// Ask again after a restart: the engine may pick a new port.
func HostAddr(ctx context.Context, api client.ContainerAPIClient, id, port string) (string, error) {
	info, err := InspectContainer(ctx, api, id)
	if err != nil {
		return "", err
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
