package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dev/demo"
	"github.com/dindbundler/dindbundler/dev/demo/demotest"
	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/producer/embedded"
	"github.com/dindbundler/dindbundler/producer/sam"
)

// TestFunctionsAnswerOnHostEngine runs the demo stack's gateway and agent as containers on the
// host engine, without a bundle: the producer builds the function and service images, the
// function images are pushed to an in-process registry on 127.0.0.1 and removed locally, so
// the agent's pull is what brings them back; the gateway reads the functions.yml and
// routing.yml the producer generated from the template. Every route is called over HTTPS with the
// generated CA: cold (pull, create, start), then warm; a function whose image the registry
// lacks fails with the pull's error.
func TestFunctionsAnswerOnHostEngine(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir, err := filepath.Abs(filepath.Join("..", "..", "examples", "demo"))
	is.NoErr(err)
	var progress bytes.Buffer
	vars, err := demo.Prepare(ctx, api, dir, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}

	// The producer builds every image of the example, function images named under the
	// in-process registry the engine pulls from (CONTAINER_REGISTRY).
	registry := enginetest.Registry(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	prefix := "stacktest" + suffix
	dotenv, err := config.ReadEnvFile(filepath.Join(dir, ".env"))
	is.NoErr(err)
	all := map[string]string{"EXAMPLE_REGISTRY": "stacktest.invalid"}
	maps.Copy(all, dotenv)
	maps.Copy(all, vars)
	req := embedded.Request{
		Template: filepath.Join(dir, "template.yaml"), Env: "test", Mode: embedded.ModeDocker,
		ProjectRoot: filepath.Dir(filepath.Dir(dir)), OutputRoot: t.TempDir(),
		ComposeFile: filepath.Join(dir, "docker-compose.yml"), Brand: "esb",
		Project: prefix, ImagePrefix: prefix, ImageTag: "it", Vars: all, ContainerRegistry: registry,
	}
	tmpl, err := sam.ParseFile(req.Template, sam.Options{})
	is.NoErr(err)
	cf, err := compose.ParseFile(req.ComposeFile, all)
	is.NoErr(err)
	plan, err := embedded.Plan(tmpl, cf, req)
	is.NoErr(err)
	for _, b := range plan.Images {
		enginetest.Cleanup(t, api, b.Name)
	}
	start := time.Now()
	m, err := embedded.Run(ctx, api, req, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Logf("producer: %s", time.Since(start).Round(time.Millisecond))

	// Function images go to the registry only; services stay local.
	images := map[string]string{} // function → reference in the registry
	service := map[string]string{}
	for _, img := range m.Images {
		switch img.Kind {
		case manifest.KindFunction:
			fn := img.Labels["com.esb.function"]
			is.True(strings.HasPrefix(img.Name, registry+"/"))
			enginetest.Cleanup(t, api, img.Name)
			demotest.PushOnly(t, api, img.Name)
			images[fn] = img.Name
		case manifest.KindService:
			service[strings.TrimPrefix(img.Name[:strings.LastIndex(img.Name, ":")], prefix+"-")] = img.Name
		}
	}
	is.Equal(slices.Sorted(maps.Keys(images)), []string{"dev-hello", "greet", "quote", "report", "thumbnail"})

	// The runtime config the producer wrote from the template, plus a route to a function whose
	// image the registry lacks.
	generated := filepath.Join(req.OutputRoot, req.Env, "config")
	configDir := t.TempDir()
	functions, err := os.ReadFile(filepath.Join(generated, "functions.yml"))
	is.NoErr(err)
	routes, err := os.ReadFile(filepath.Join(generated, "routing.yml"))
	is.NoErr(err)
	renamed := string(functions)
	is.True(strings.Contains(renamed, "image: "+images["dev-hello"]))
	is.True(strings.HasSuffix(renamed, "\n") && strings.Contains(renamed, "\nfunctions:\n")) // functions is the last mapping
	renamed += fmt.Sprintf("  missing:\n    image: %s/nosuchfunction:it\n    timeout: 10\n", registry)
	is.NoErr(os.WriteFile(filepath.Join(configDir, "functions.yml"), []byte(renamed), 0o644))
	is.NoErr(os.WriteFile(filepath.Join(configDir, "routing.yml"), append(routes, "  - {path: /missing, method: GET, function: missing}\n"...), 0o644))
	certDir := t.TempDir()
	_, err = certs.Generate(certDir, certs.GenerateOptions{})
	is.NoErr(err)

	// The stack: agent and gateway on their own network, as compose would run them.
	net := "stacktest-" + suffix
	_, err = api.NetworkCreate(ctx, net, network.CreateOptions{})
	is.NoErr(err)
	t.Cleanup(func() {
		removeWorkers(t, api, net)
		_ = api.NetworkRemove(context.Background(), net)
	})
	agent := run(t, api, net, "agent", &container.Config{
		Image: service["agent"],
		Env: []string{"CONTAINER_REGISTRY=" + registry, "STORAGE_URL=http://storage:9000",
			"LOGS_URL=http://logs:9428", "RUSTFS_ACCESS_KEY=stacktest-key"},
	}, &container.HostConfig{Binds: []string{"/var/run/docker.sock:/var/run/docker.sock"}})
	gateway := run(t, api, net, "gateway", &container.Config{
		Image:        service["gateway"],
		Env:          []string{"CONFIG_DIR=/app/config", "AGENT_URL=http://agent:8081"},
		ExposedPorts: nat.PortSet{"8443/tcp": {}},
	}, &container.HostConfig{
		Binds:        []string{certDir + ":/certs:ro", configDir + ":/app/config:ro"},
		PortBindings: nat.PortMap{"8443/tcp": {{HostIP: "127.0.0.1"}}},
	})
	defer func() {
		if t.Failed() {
			for name, id := range map[string]string{"agent": agent, "gateway": gateway} {
				logs, _ := engine.Logs(context.Background(), api, id)
				t.Logf("%s log:\n%s", name, logs)
			}
		}
	}()
	addr, err := engine.HostAddr(ctx, api, gateway, "8443/tcp")
	is.NoErr(err)
	base := "https://localhost:" + strings.TrimPrefix(addr, "127.0.0.1:")
	hc := demotest.HTTPSClient(t, filepath.Join(certDir, certs.RootCACert))
	waitUp(t, func() error {
		resp, err := hc.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})

	cold := demotest.CallAll(t, hc, base)
	warm := demotest.CallAll(t, hc, base)
	t.Logf("first calls (pull, create, start, invoke): %s", demotest.Durations(cold))
	t.Logf("warm calls: %s", demotest.Durations(warm))
	workers, err := api.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", "com.esb.kind=function"), filters.Arg("network", net))})
	is.NoErr(err)
	is.Equal(len(workers), len(demotest.Calls)) // one warm worker per function, reused

	// A function whose image the registry lacks: the pull fails the invocation, named.
	status, _, body := demotest.Do(t, hc, "GET", base+"/missing", "")
	is.Equal(status, 502)
	is.True(strings.Contains(string(body), "pull "+registry+"/nosuchfunction:it"))
	// No route: 404.
	status, _, _ = demotest.Do(t, hc, "GET", base+"/nowhere", "")
	is.Equal(status, 404)
}

// run starts a container on net under the alias name and removes it when the test ends,
// stopping it first so the agent removes its workers.
func run(t *testing.T, api client.APIClient, net, name string, cfg *container.Config, host *container.HostConfig) string {
	t.Helper()
	ctx := context.Background()
	host.NetworkMode = container.NetworkMode(net)
	c, err := api.ContainerCreate(ctx, cfg, host, &network.NetworkingConfig{
		EndpointsConfig: map[string]*network.EndpointSettings{net: {Aliases: []string{name}}},
	}, nil, net+"-"+name)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() {
		timeout := 10
		_ = api.ContainerStop(context.Background(), c.ID, container.StopOptions{Timeout: &timeout})
		_ = api.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	})
	if err := api.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return c.ID
}

// removeWorkers removes what the agent left on net (after a failure half-way).
func removeWorkers(t *testing.T, api client.APIClient, net string) {
	list, err := api.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", "com.esb.kind=function"), filters.Arg("label", "com.esb.owner="+net))})
	if err != nil {
		t.Errorf("list workers: %v", err)
		return
	}
	for _, c := range list {
		_ = api.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	}
}

func waitUp(t *testing.T, probe func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := probe()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway does not answer: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
