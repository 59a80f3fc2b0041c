package enginetest_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }

func TestSelectEngines(t *testing.T) {
	tests := []struct {
		value   string
		want    []string
		wantErr string
	}{
		{value: "", want: []string{"host"}},
		{value: " , ", want: []string{"host"}},
		{value: "host,28-classic,28-containerd", want: []string{"host", "28-classic", "28-containerd"}},
		{value: "28-containerd, host ,28-containerd", want: []string{"28-containerd", "host"}},
		{value: "host,29-classic", wantErr: `unknown engine "29-classic", want a comma-separated list of host, 28-classic, 28-containerd`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			is := is.New(t)
			got, err := enginetest.SelectEngines(tt.value)
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr)) // says what is known
				is.True(strings.Contains(err.Error(), "TEST_ENGINES"))
				return
			}
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
}

func TestDaemonConfig(t *testing.T) {
	tests := []struct {
		name     string
		flavour  enginetest.Flavour
		registry string
		want     string
		wantErr  bool
	}{
		{name: "classic", flavour: enginetest.Flavour{Name: "28-classic"}, registry: "172.17.0.1",
			want: `{"features":{"containerd-snapshotter":false},"insecure-registries":["172.17.0.1/32"]}`},
		{name: "containerd", flavour: enginetest.Flavour{Name: "28-containerd", Containerd: true}, registry: "10.1.2.3",
			want: `{"features":{"containerd-snapshotter":true},"insecure-registries":["10.1.2.3/32"]}`},
		{name: "ipv6", flavour: enginetest.Flavour{Name: "x"}, registry: "fd00::1",
			want: `{"features":{"containerd-snapshotter":false},"insecure-registries":["fd00::1/128"]}`},
		{name: "no registry", flavour: enginetest.Flavour{Name: "x"}, want: `{"features":{"containerd-snapshotter":false}}`},
		{name: "host name", flavour: enginetest.Flavour{Name: "x"}, registry: "localhost", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := enginetest.DaemonConfig(tt.flavour, tt.registry)
			if tt.wantErr {
				is.True(err != nil)
				return
			}
			is.NoErr(err)
			var compact map[string]any
			is.NoErr(json.Unmarshal(got, &compact))
			flat, err := json.Marshal(compact)
			is.NoErr(err)
			is.Equal(string(flat), tt.want)
		})
	}
}

// Each selected engine answers with the store it claims, and pulls from its test registry.
func TestEnginesAnswerAndPull(t *testing.T) {
	for _, e := range enginetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			is := is.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			c := e.Client(t)
			info, err := c.Info(ctx)
			is.NoErr(err)
			t.Logf("%s: Engine %s, driver %s, store %v", e.Name, info.ServerVersion, info.Driver, info.DriverStatus)
			if e.Matrix() {
				is.True(strings.HasPrefix(info.ServerVersion, "28."))
				containerd, err := engine.ContainerdStore(ctx, c)
				is.NoErr(err)
				is.Equal(containerd, e.Containerd())
			}
			ref := enginetest.PushRandom(t, e.Registry(t), "enginetest-matrix", "v1", 1, 4096)
			enginetest.Cleanup(t, c, ref)
			is.NoErr(engine.Pull(ctx, c, ref, nil))
		})
	}
}
