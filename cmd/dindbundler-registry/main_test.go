package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"

	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/registry"
	"github.com/dindbundler/dindbundler/internal/registry/registrytest"
)

// bigIndex is an index of n images of 20 layers each, on address (no files: serve must not
// read any at start).
func bigIndex(t *testing.T, address string, n int) string {
	t.Helper()
	set := layerstore.Set{Compression: layerstore.Zstd}
	files := map[string]layerstore.FileDigest{}
	for i := range n {
		img := layerstore.Image{Name: fmt.Sprintf("%s/esb-fn%d:latest", address, i), ID: digest.FromString(fmt.Sprint("config", i)).String()}
		img.Config = img.ID
		files[img.Config] = layerstore.FileDigest{Digest: img.Config, Size: 1000}
		for l := range 20 {
			d := digest.FromString(fmt.Sprint("layer", i%7, l)).String() // shared bases
			img.DiffIDs = append(img.DiffIDs, d)
			img.Sizes = append(img.Sizes, 1<<20)
			files[d] = layerstore.FileDigest{Digest: digest.FromString("file " + d).String(), Size: 1 << 19}
		}
		set.Images = append(set.Images, img)
	}
	idx, err := registry.PlanIndex(address, set, files)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "registry.json")
	if err := registry.WriteIndex(p, idx); err != nil {
		t.Fatal(err)
	}
	return p
}

// serve answers ping quickly for an index of 100 images, serves the index's manifests on its
// address, and stops cleanly (exit 0) when its context ends (SIGTERM in main).
func TestServeAndPing(t *testing.T) {
	is := is.New(t)
	addr := registrytest.FreeAddr(t)
	index := bigIndex(t, addr, 100)
	ctx, stop := context.WithCancel(context.Background())
	logs := &registrytest.SyncBuffer{}
	done := make(chan int, 1)
	t0 := time.Now()
	go func() { done <- run(ctx, []string{"serve", "--index", index, "--images", t.TempDir()}, logs) }()
	for run(context.Background(), []string{"ping", addr}, logs) != 0 {
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("no answer on %s:\n%s", addr, logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ready := time.Since(t0)
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "serving") {
			t.Logf("ping answered after %s; %s", ready.Round(time.Millisecond), line)
		}
	}
	is.True(ready < time.Second) // generous for a loaded machine; the log line gives the figure
	is.True(strings.Contains(logs.String(), "serving 100 images on "+addr+" (layers as stored), ready in "))

	resp, err := http.Get("http://" + addr + "/v2/esb-fn42/manifests/latest")
	is.NoErr(err)
	resp.Body.Close()
	is.Equal(resp.StatusCode, http.StatusOK)
	is.Equal(resp.Header.Get("Content-Type"), "application/vnd.oci.image.manifest.v1+json")

	stop()
	select {
	case code := <-done:
		is.Equal(code, 0)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	is.True(strings.Contains(logs.String(), "stopped"))
	is.True(run(context.Background(), []string{"ping", addr}, logs) != 0) // gone
}

func TestCommandLine(t *testing.T) {
	is := is.New(t)
	addr := registrytest.FreeAddr(t)
	index := bigIndex(t, addr, 1)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "usage:"},
		{"unknown command", []string{"push"}, 2, `unknown command "push"`},
		{"ping with nothing there", []string{"ping", addr}, 1, "ping " + addr},
		{"missing index", []string{"serve", "--index", filepath.Join(t.TempDir(), "none.json")}, 1, "read the registry index"},
		{"extra argument", []string{"serve", "--index", index, "x"}, 1, `unexpected argument "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out registrytest.SyncBuffer
			is.Equal(run(context.Background(), tt.args, &out), tt.code)
			is.True(strings.Contains(out.String(), tt.want))
		})
	}
}

// Another address than loopback is served when asked, with a warning.
func TestNonLoopbackWarns(t *testing.T) {
	is := is.New(t)
	is.True(loopback("127.0.0.1:5010"))
	is.True(loopback("[::1]:5010"))
	is.True(loopback("localhost:5010"))
	is.True(!loopback("0.0.0.0:5010"))
	is.True(!loopback(":5010"))
	is.True(!loopback("10.0.0.1:5010"))

	index := bigIndex(t, "127.0.0.1:5010", 1)
	ctx, stop := context.WithCancel(context.Background())
	logs := &registrytest.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--index", index, "--images", t.TempDir(), "--addr", "0.0.0.0:0"}, logs)
	}()
	t0 := time.Now()
	for !strings.Contains(logs.String(), "serving") && time.Since(t0) < 5*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	is.Equal(<-done, 0)
	is.True(strings.Contains(logs.String(), "warning: serving on 0.0.0.0:0, which is not a loopback address"))
}

// The binary the bundle carries links neither the layer store nor the Docker client (nor what
// they drag in): only the standard library, the compression and registry-type libraries.
func TestSmallFootprint(t *testing.T) {
	is := is.New(t)
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	is.NoErr(err)
	var deps []string
	for _, p := range strings.Fields(string(out)) {
		deps = append(deps, p)
		for _, banned := range []string{"github.com/docker/docker", "go.opentelemetry.io", "github.com/sirupsen/logrus", "/internal/layerstore", "/internal/engine"} {
			if strings.Contains(p, banned) {
				t.Errorf("the registry binary links %s", p)
			}
		}
	}
	t.Logf("%d non-standard packages: %s", len(deps), strings.Join(deps, " "))
	is.True(len(deps) < 25)
}
