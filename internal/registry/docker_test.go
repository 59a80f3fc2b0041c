package registry_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/internal/registry"
	"github.com/dindbundler/dindbundler/internal/registry/registrytest"
)

func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// registryBinary builds cmd/dindbundler-registry as the bundle carries it: static.
func registryBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "registrytest-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "dindbundler-registry")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", binPath, "../../cmd/dindbundler-registry")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// engineBundle is a bundle's images directory and registry index made from real images of e:
// exported into a layer store (zstd, the bundle's default) and renamed onto the registry address.
type engineBundle struct {
	addr     string
	dir      string
	index    string // the index file
	set      layerstore.Set
	idx      registry.Index
	original []string // the images' names in the engine before the test removed them
}

func newEngineBundle(t *testing.T, api *engine.Engine, names ...string) engineBundle {
	t.Helper()
	ctx := context.Background()
	ids, missing, err := engine.ImageIDs(ctx, api, names)
	if err != nil || len(missing) > 0 {
		t.Fatalf("inspect %v: %v (missing %v)", names, err, missing)
	}
	var wants []layerstore.Want
	for _, n := range names {
		wants = append(wants, layerstore.Want{Name: n, ID: ids[n]})
	}
	s, err := layerstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := s.Export(ctx, api, wants, layerstore.Zstd, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := engineBundle{addr: registrytest.FreeAddr(t), original: names}
	b.set = layerstore.Set{Compression: layerstore.Zstd, Images: imgs}
	for i := range b.set.Images {
		b.set.Images[i].Name = b.addr + "/" + names[i]
	}
	files, err := s.FileDigests(b.set)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := registry.PlanIndex(b.addr, b.set, files)
	if err != nil {
		t.Fatal(err)
	}
	b.idx = idx
	b.dir = imagesDir(t, s)
	b.index = filepath.Join(t.TempDir(), "registry.json")
	if err := registry.WriteIndex(b.index, idx); err != nil {
		t.Fatal(err)
	}
	return b
}

// runningRegistry is a registry binary the test started.
type runningRegistry struct {
	logs *registrytest.SyncBuffer
	// stop sends SIGTERM and checks that the registry stops cleanly; it runs at the end of the
	// test if the test did not call it.
	stop func()
}

// startRegistry runs the registry binary where e sees it on its loopback and waits until `ping`
// answers (through the binary too).
func startRegistry(t *testing.T, e enginetest.Engine, b engineBundle, args ...string) runningRegistry {
	t.Helper()
	bin := registryBinary(t)
	logs := &registrytest.SyncBuffer{}
	cmd := e.LoopbackCommand(t, bin, append([]string{"serve", "--index", b.index, "--images", b.dir}, args...)...)
	cmd.Stderr = logs
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil || !strings.Contains(logs.String(), "stopped") {
					t.Errorf("registry did not stop cleanly on SIGTERM: %v\n%s", err, logs)
				}
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				t.Errorf("registry did not stop within 10 s of SIGTERM\n%s", logs)
			}
		})
	}
	t.Cleanup(stop)
	for {
		if err := e.LoopbackCommand(t, bin, "ping", b.addr).Run(); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("registry exited: %v\n%s", err, logs)
		default:
		}
		if time.Since(t0) > 10*time.Second {
			t.Fatalf("registry does not answer on %s\n%s", b.addr, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("registry %v answered after %s: %s", args, time.Since(t0).Round(time.Millisecond), strings.TrimSpace(logs.String()))
	return runningRegistry{logs: logs, stop: stop}
}

func engineMajor(t *testing.T, api *engine.Engine) int {
	t.Helper()
	v, err := api.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	major, err := strconv.Atoi(strings.SplitN(v.Version, ".", 2)[0])
	if err != nil {
		t.Fatalf("engine version %q: %v", v.Version, err)
	}
	return major
}

// tinyImages builds a base and two images on it in e, and returns their names (a, b, base).
func tinyImages(t *testing.T, api *engine.Engine) []string {
	t.Helper()
	sfx := fmt.Sprint(time.Now().UnixNano())
	base := "registrytest-base-" + sfx + ":1"
	a, b := "registrytest-a-"+sfx+":1", "registrytest-b-"+sfx+":1"
	// The base's content is the run's own: an engine that kept a layer of another test's image
	// would not fetch it.
	text := []byte(strings.Repeat("a compressible line for the bundle's registry "+sfx+"\n", 15000)) // ~1 MB
	enginetest.ScratchImage(t, api, base, map[string][]byte{"base.txt": text})
	enginetest.ScratchImage(t, api, a, map[string][]byte{"a.txt": []byte("a " + sfx)}, enginetest.From(base), enginetest.Cmd("/a"))
	enginetest.ScratchImage(t, api, b, map[string][]byte{"b.txt": []byte("b " + sfx)}, enginetest.From(base), enginetest.Cmd("/b"))
	return []string{a, b, base}
}

// The engine pulls the bundle's images from the registry binary serving the layer files, and
// gets the very images that were exported: the same config digest and layers. Zstd layers are
// served as stored to engines of 23.0 and later, decompressed to older ones — which cannot
// unpack zstd at all, as the test checks on such an engine.
func TestEnginePullsFromTheBundle(t *testing.T) { enginetest.Each(t, enginePullsFromTheBundleOn) }

func enginePullsFromTheBundleOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	names := tinyImages(t, api)
	b := newEngineBundle(t, api, names[:2]...)
	is.NoErr(engine.Remove(ctx, api, names...)) // nothing of them is left in the engine
	var pulled []string
	for _, img := range b.set.Images {
		pulled = append(pulled, img.Name)
	}
	enginetest.Cleanup(t, api, pulled...)

	var args []string
	if engineMajor(t, api) < 23 {
		// The claim the uncompressed mode rests on: this engine cannot pull zstd layers.
		r := startRegistry(t, e, b)
		err := engine.Pull(ctx, api, pulled[0], nil)
		is.True(err != nil)
		t.Logf("Engine %d pulling zstd layers: %v", engineMajor(t, api), err)
		_ = engine.Remove(ctx, api, pulled[0])
		r.stop()
		args = []string{"--uncompressed"}
	}
	r := startRegistry(t, e, b, args...)
	for i, name := range pulled {
		t0 := time.Now()
		is.NoErr(engine.Pull(ctx, api, name, nil))
		t.Logf("pulled %s in %s", name, time.Since(t0).Round(time.Millisecond))
		locals, missing, err := api.Locals(ctx, []string{name})
		is.NoErr(err)
		is.Equal(len(missing), 0)
		want := manifest.Image{Name: name, Digest: b.set.Images[i].ID, Config: b.set.Images[i].Config, DiffIDs: b.set.Images[i].DiffIDs}
		if e.Containerd() {
			// The image ID is the digest of the manifest served, which names the config digest.
			want.Digest = b.idx.Images[i].Digest.String()
			is.Equal(locals[name].ID, want.Digest)
		} else {
			is.Equal(locals[name].ID, b.set.Images[i].ID) // the same image ID as before the export
		}
		is.NoErr(want.Check(manifest.Seen(locals[name])))
	}
	time.Sleep(1500 * time.Millisecond) // the pull lines come after a second without requests
	t.Logf("registry log:\n%s", r.logs)
	for _, name := range pulled {
		is.True(strings.Contains(r.logs.String(), "pull "+name+": "))
	}
}

// A damaged layer file never becomes an image: the engine's pull fails, and the registry's log
// names the blob, the image and what to do.
func TestEngineRefusesDamagedLayer(t *testing.T) { enginetest.Each(t, engineRefusesDamagedLayerOn) }

func engineRefusesDamagedLayerOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	names := tinyImages(t, api)
	b := newEngineBundle(t, api, names[0])
	is.NoErr(engine.Remove(ctx, api, names...))
	name := b.set.Images[0].Name
	enginetest.Cleanup(t, api, name)
	base := filepath.Join(b.dir, layerstore.LayerFile(b.set.Images[0].DiffIDs[0], layerstore.Zstd))
	is.NoErr(rewrite(base, func(data []byte) []byte { data[len(data)/2] ^= 0x20; return data }))

	var args []string
	if engineMajor(t, api) < 23 {
		args = []string{"--uncompressed"}
	}
	r := startRegistry(t, e, b, args...)
	t0 := time.Now()
	err := engine.Pull(ctx, api, name, nil)
	is.True(err != nil)
	t.Logf("pull failed after %s: %v", time.Since(t0).Round(time.Millisecond), err)
	_, found, err := engine.Inspect(ctx, api, name)
	is.NoErr(err)
	is.True(!found) // no image, wrong or right
	line := r.logs.String()
	t.Logf("registry log:\n%s", line)
	for _, want := range []string{filepath.Base(base), name, "the bundle is damaged; rebuild the bundle"} {
		if !strings.Contains(line, want) {
			t.Fatalf("registry log does not name %q:\n%s", want, line)
		}
	}
}
