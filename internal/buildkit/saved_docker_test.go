package buildkit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/buildkit"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/ocilayout"
)

// TestClassicEngineBuilderSendsOnlyMissingLayers: each engine of TEST_ENGINES on the classic
// image store (host: Engine 20.10, whose save is the legacy format; 28-classic: an OCI layout)
// builds as a docker+ builder for each other engine of TEST_ENGINES, every one of which has the
// base already. Its images are saved whole from it into the run's OCI layout and loaded from
// there: they arrive and read back in the bundling engine with the base's layers beneath, and the
// bytes the loader sent leave the base out — on the classic store because the engine has its
// layers by chain ID; on the containerd store because the base came in through the layout (as an
// earlier run's image would have brought it), so the engine's blobs of it are known. A containerd
// engine given the base by a whole load instead (base-copied) gets it once more with the first
// image, not with the second. First, the base saved from the host and from a classic matrix
// engine is the same manifest.
func TestClassicEngineBuilderSendsOnlyMissingLayers(t *testing.T) {
	engines := enginetest.Engines(t)
	var classic []enginetest.Engine
	for _, e := range engines {
		if !e.Containerd() {
			classic = append(classic, e)
		}
	}
	if len(engines) < 2 || len(classic) == 0 {
		t.Skip("needs two engines in " + enginetest.EnginesEnv + ", one on the classic store (e.g. host,28-classic,28-containerd)")
	}
	buildkit.QuietStoreLogs() // the layouts are opened before any Connect
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	host := enginetest.Client(t)

	const baseSize = 24 << 20
	base := fmt.Sprintf("dindbundlertest-savein-base:%d", os.Getpid())
	blob := make([]byte, baseSize)
	rand.NewChaCha8([32]byte{21}).Read(blob)
	enginetest.ScratchImage(t, host, base, map[string][]byte{"/base.bin": blob, "/etc/base": []byte("base\n")})
	blob = nil
	clients := map[string]*engine.Engine{}
	for _, e := range engines {
		clients[e.Name] = e.Client(t)
		if e.Matrix() && !e.Containerd() {
			enginetest.Cleanup(t, clients[e.Name], base)
			_, err := engine.Copy(ctx, host, clients[e.Name], base)
			is.NoErr(err)
		}
	}

	// The base saved from each classic engine is one manifest, whichever format its save has.
	var first ocilayout.Saved
	for i, e := range classic {
		l, err := ocilayout.Open(t.TempDir())
		is.NoErr(err)
		defer l.Close()
		start := time.Now()
		saved, err := l.IngestSave(ctx, clients[e.Name], "", base)
		is.NoErr(err)
		t.Logf("base saved from %s (legacy format: %v) in %s: manifest %s, %.1f MB read", e.Name, saved.Legacy, time.Since(start).Round(time.Millisecond),
			saved.Image.Manifest.Digest, float64(saved.Read)/1e6)
		is.Equal(saved.Legacy, !e.Matrix()) // the host is Engine 20.10; the matrix's are 28
		if i == 0 {
			first = saved
			continue
		}
		is.Equal(saved.Image.Manifest, first.Image.Manifest)
		is.Equal(saved.Image.DiffIDs, first.Image.DiffIDs)
	}
	// An image the engine lacks: the error says what was being brought from where.
	l, err := ocilayout.Open(t.TempDir())
	is.NoErr(err)
	defer l.Close()
	missing := fmt.Sprintf("dindbundlertest-savein-none:%d", os.Getpid())
	_, err = l.IngestSave(ctx, host, "docker+"+host.DaemonHost(), missing)
	is.True(err != nil)
	t.Log(err)
	is.True(strings.Contains(err.Error(), "bring "+missing+" from docker+"+host.DaemonHost()+" into the OCI layout "+l.Dir()))
	names, err := l.Names()
	is.NoErr(err)
	is.Equal(len(names), 0)

	var baseBytes int64
	for _, l := range first.Image.Layers {
		baseBytes += l.Size
	}

	type pair struct {
		b, e enginetest.Engine
		// copied: the containerd-store engine got the base by a whole load (engine.Copy), not
		// through the layout: before Engine 28 the run's first image carries it once (the engine
		// lists no blobs), the next does not; from Engine 28 neither does (its layers are assumed
		// by chain ID, and the load checked for every blob).
		copied bool
	}
	var pairs []pair
	for _, b := range classic {
		for _, e := range engines {
			if e.Name == b.Name {
				continue // a builder naming the bundling engine itself is no case here
			}
			pairs = append(pairs, pair{b: b, e: e})
			if e.Containerd() {
				pairs = append(pairs, pair{b: b, e: e, copied: true})
			}
		}
	}
	for _, p := range pairs {
		b, e := p.b, p.e
		what := b.Name + "→" + e.Name
		if p.copied {
			what += ",base-copied"
		}
		t.Run(what, func(t *testing.T) {
			is := is.New(t)
			builder, api := clients[b.Name], clients[e.Name]
			layout, err := ocilayout.Open(filepath.Join(t.TempDir(), "oci-layout"))
			is.NoErr(err)
			defer layout.Close()
			switch {
			case p.copied:
				enginetest.Cleanup(t, api, base)
				_, err := engine.Copy(ctx, host, api, base)
				is.NoErr(err)
			case e.Containerd():
				// An earlier run brought the base through the layout.
				start := time.Now()
				enginetest.Cleanup(t, api, base)
				_, err := layout.IngestSave(ctx, host, "", base)
				is.NoErr(err)
				res, err := ocilayout.NewLoader(layout, api).Load(ctx, base)
				is.NoErr(err)
				t.Logf("the base through the layout into %s: %.1f MB sent in %s", e.Name, float64(res.Sent)/1e6, time.Since(start).Round(time.Millisecond))
			}

			// A new run: its own loader asks the engine afresh what it has.
			loader := ocilayout.NewLoader(layout, api)
			bk, err := buildkit.ConnectEngine(ctx, api, b.Client(t), "docker+"+builder.DaemonHost())
			is.NoErr(err)
			defer bk.Close()
			is.True(bk.ExportsToLayout())
			bk.LoadThrough(loader)
			for i := range 2 {
				name := fmt.Sprintf("dindbundlertest-savein-%s-%s-%v-%d:%d", b.Name, e.Name, p.copied, i, os.Getpid())
				enginetest.Cleanup(t, api, name)
				enginetest.Cleanup(t, builder, name)
				dir := t.TempDir()
				is.NoErr(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+base+"\nCOPY app.txt /app.txt\nCMD [\"/none\"]\n"), 0o644))
				is.NoErr(os.WriteFile(filepath.Join(dir, "app.txt"), fmt.Appendf(nil, "%s %s %d %d\n", b.Name, e.Name, i, time.Now().UnixNano()), 0o644))
				sent, omitted, received := loader.Sent(), loader.Omitted(), layout.Received()
				view := buildkit.NewView(nil)
				peak := sampleMemory(t)
				start := time.Now()
				id, _, err := bk.Build(ctx, buildkit.Build{Name: name, ContextDir: dir}, view)
				took := time.Since(start)
				heap, _ := peak()
				is.NoErr(view.Close())
				is.NoErr(err)
				sent, omitted, received = loader.Sent()-sent, loader.Omitted()-omitted, layout.Received()-received
				t.Logf("%s, image %d: built and landed in %s; %.3f MB sent into the engine, %.1f MB of layers left out (the base: %.1f MB); %.1f MB written into the layout; heap grew by at most %.1f MB",
					what, i, took.Round(time.Millisecond), float64(sent)/1e6, float64(omitted)/1e6, float64(baseBytes)/1e6, float64(received)/1e6, float64(heap)/1e6)
				if p.copied && i == 0 && !engine.TellsManifests(api) {
					is.True(sent >= baseBytes) // the base, once: before Engine 28 the engine's blobs of it are not known
				} else {
					// Engine 28 tells whether an image's manifest has every blob: the base loaded
					// whole is assumed by its chain IDs and the load checked (ocilayout presence).
					is.True(omitted >= baseBytes) // the base did not cross into the engine
					is.True(sent < 1<<20)         // the top layer, its manifest and config, the archive's headers
				}

				info, err := api.ImageInspect(ctx, name)
				is.NoErr(err)
				is.Equal(info.ID, id)
				is.Equal(len(info.RootFS.Layers), len(first.Image.DiffIDs)+1)
				for j, d := range first.Image.DiffIDs {
					is.Equal(info.RootFS.Layers[j], d.String()) // the base's layers beneath
				}
				files := enginetest.ImageFiles(t, api, name, "/app.txt", "/etc/base")
				is.Equal(files["/etc/base"].Content, "base\n")
				want, err := os.ReadFile(filepath.Join(dir, "app.txt"))
				is.NoErr(err)
				is.Equal(files["/app.txt"].Content, string(want))
			}
		})
	}
}
