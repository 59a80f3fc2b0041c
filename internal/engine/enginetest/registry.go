package enginetest

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry starts an in-memory registry on 127.0.0.1 for the length of the test and returns its
// host:port. The engine pulls from loopback registries over plain HTTP without configuration;
// for a matrix engine use Engine.Registry.
func Registry(t testing.TB) (host string) {
	t.Helper()
	return serveOn(t, "127.0.0.1", newRegistry())
}

func newRegistry() http.Handler { return registry.New(registry.Logger(log.New(io.Discard, "", 0))) }

// serveOn serves h on ip (a port of its choosing) until the test ends.
func serveOn(t testing.TB, ip string, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("test server: listen on %s: %v (the engine must run on this machine)", ip, err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// PushRandom pushes an image of layers random layers of size bytes each to host/repo:tag and
// returns that reference. Its config names linux and the host's architecture, the platform the
// engine pulls for, so the pull does not warn about a platform mismatch.
func PushRandom(t testing.TB, host, repo, tag string, layers int, size int64) (ref string) {
	t.Helper()
	img := randomImage(t, layers, size)
	ref = fmt.Sprintf("%s/%s:%s", host, repo, tag)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := remote.Write(parseRef(t, ref), img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return ref
}

// PushRandomIndex is PushRandom of an index holding the image for the host's platform, as
// registries publish bases: an engine on the containerd image store that pulls it names the
// image by the index's digest. It returns the reference and the image (its layers gzip-compressed).
func PushRandomIndex(t testing.TB, host, repo, tag string, layers int, size int64) (ref string, img v1.Image) {
	t.Helper()
	img = randomImage(t, layers, size)
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img,
		Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}})
	ref = fmt.Sprintf("%s/%s:%s", host, repo, tag)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := remote.WriteIndex(parseRef(t, ref), idx, remote.WithContext(ctx)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return ref, img
}

// randomImage is an image of layers random layers of size bytes each for linux and the host's
// architecture.
func randomImage(t testing.TB, layers int, size int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(layers))
	if err != nil {
		t.Fatalf("random image: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("random image config: %v", err)
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatalf("set platform of random image: %v", err)
	}
	return img
}

func parseRef(t testing.TB, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatalf("parse %s: %v", ref, err)
	}
	return r
}
