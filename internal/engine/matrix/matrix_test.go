package matrix_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/engine/matrix"
)

func TestSelect(t *testing.T) {
	tests := []struct {
		value   string
		want    []string
		wantErr string
	}{
		{value: "", want: []string{"host"}},
		{value: " , ", want: []string{"host"}},
		{value: "host,28-classic,28-containerd", want: []string{"host", "28-classic", "28-containerd"}},
		{value: "28-containerd, host ,28-containerd", want: []string{"28-containerd", "host"}},
		{value: "26-classic", want: []string{"26-classic"}},
		{value: "host,29-classic", wantErr: `unknown engine "29-classic", want a comma-separated list of host, 28-classic, 28-containerd, 26-classic`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			is := is.New(t)
			got, err := matrix.Select("TEST_ENGINES", tt.value)
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
		flavour  matrix.Flavour
		registry string
		want     string
		wantErr  bool
	}{
		{name: "classic", flavour: matrix.Flavour{Name: "28-classic"}, registry: "172.17.0.1",
			want: `{"features":{"containerd-snapshotter":false},"insecure-registries":["172.17.0.1/32"]}`},
		{name: "containerd", flavour: matrix.Flavour{Name: "28-containerd", Containerd: true}, registry: "10.1.2.3",
			want: `{"features":{"containerd-snapshotter":true},"insecure-registries":["10.1.2.3/32"]}`},
		{name: "ipv6", flavour: matrix.Flavour{Name: "x"}, registry: "fd00::1",
			want: `{"features":{"containerd-snapshotter":false},"insecure-registries":["fd00::1/128"]}`},
		{name: "no registry", flavour: matrix.Flavour{Name: "x"}, want: `{"features":{"containerd-snapshotter":false}}`},
		{name: "host name", flavour: matrix.Flavour{Name: "x"}, registry: "localhost", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := matrix.DaemonConfig(tt.flavour, tt.registry)
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

func TestLookup(t *testing.T) {
	is := is.New(t)
	f, ok := matrix.Lookup("28-containerd")
	is.True(ok)
	is.True(f.Containerd)
	f, ok = matrix.Lookup("28-classic")
	is.True(ok)
	is.True(!f.Containerd)
	f, ok = matrix.Lookup("26-classic")
	is.True(ok)
	is.True(!f.Containerd)
	is.Equal(f.Engine, matrix.Engine26)      // runs its own image (Pool.Images)
	_, ok = matrix.Lookup(matrix.HostEngine) // the host is no flavour
	is.True(!ok)
}

// An engine is stale only when its owner is a dead process of this machine.
func TestStale(t *testing.T) {
	alive := func(pid int) bool { return pid == 42 }
	tests := []struct {
		owner string
		want  bool
	}{
		{"box:41", true},
		{"box:42", false},        // still running
		{"other:41", false},      // another machine's process: cannot tell
		{"box:", false},          // unreadable label
		{"box", false},           // no pid
		{"box:forty-one", false}, // not a pid
	}
	for _, tt := range tests {
		is.New(t).Equal(matrix.Stale(tt.owner, "box", alive), tt.want)
	}
}

func TestEnv(t *testing.T) {
	is := is.New(t)
	r := matrix.Running{Host: "tcp://127.0.0.1:4321"}
	got := matrix.WithEnv([]string{"PATH=/bin", "DOCKER_HOST=unix:///x.sock", "DOCKER_CONTEXT=remote", "HOME=/root"}, r.Env())
	is.Equal(got, []string{"PATH=/bin", "HOME=/root", "DOCKER_HOST=tcp://127.0.0.1:4321", "DOCKER_CONTEXT=", "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH="})
}
