package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/volume"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dev/bench"
	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/engine/matrix"
)

// TestSmoke runs the whole harness at a tiny size with one compression, two function images and
// one function size on the engines
// TEST_ENGINES selects (as BENCH_ENGINES; the harness starts its own matrix engines): every
// row of each engine's JSON must be there with a positive figure, the summary must set the
// engines side by side, and nothing named with the run's prefix may be left on the host
// engine, nor any matrix engine the harness started. No timing is asserted.
func TestSmoke(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	engines, err := enginetest.SelectEngines(os.Getenv(enginetest.EnginesEnv))
	is.NoErr(err)
	prefix := fmt.Sprintf("bench-t%d-", os.Getpid())
	o := bench.Options{
		BuildDir: t.TempDir(), Images: 3, Size: 16 << 20, Compressible: 0.5,
		Compressions: []string{"gzip"}, Prefix: prefix, BaseImage: base.DefaultTag, BootTimeout: 3 * time.Minute,
		Engines: engines, Runs: 1, Boots: 1, Functions: 2, FunctionSizes: []int64{2 << 20},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var log strings.Builder
	rep, err := bench.Run(ctx, o, os.Environ(), &log)
	if err != nil {
		t.Fatalf("%v\nharness log:\n%s", err, log.String())
	}
	t.Logf("\n%s", rep.Text())

	data, err := os.ReadFile(filepath.Join(o.Dir(), "results.json"))
	is.NoErr(err)
	var got bench.Report
	is.NoErr(json.Unmarshal(data, &got))
	is.Equal(len(got.Engines), len(engines))
	is.Equal(len(got.Summary), len(engines))
	for i, e := range got.Engines {
		is.Equal(e.Name, engines[i])
		is.True(e.Docker != "")
		if f, ok := matrix.Lookup(e.Name); ok {
			is.True(strings.HasPrefix(e.Docker, "28.")) // measured on the matrix engine
			is.Equal(e.Store == bench.StoreContainerd, f.Containerd)
		}
		rows := map[string]bench.Row{}
		for _, r := range e.Rows {
			rows[r.ID] = r
		}
		for _, spec := range bench.RowSpecs(o) {
			r, ok := rows[spec.ID]
			is.True(ok) // every row is in the JSON
			// A count is of what should not happen (function images moved again on a restart).
			if r.Status != bench.StatusOK || r.Value <= 0 && r.Unit != bench.UnitCount || r.Unit == bench.UnitCount && r.Value != 0 {
				t.Errorf("%s: row %s (%s): status %s, value %v, note %q", e.Name, r.ID, r.What, r.Status, r.Value, r.Note)
			}
			if r.SeedID != "" && r.SeedID != r.ID && r.Ratio <= 0 {
				t.Errorf("%s: row %s has no ratio to %s", e.Name, r.ID, r.SeedID)
			}
		}
		is.True(len(e.Targets) > 0)
		is.True(got.Summary[i].Boot.Ratio > 0 && got.Summary[i].Full.Ratio > 0) // side by side with its seed
	}
	is.True(got.Machine.CPUs > 0)
	for _, name := range []string{"results.md", "results.txt"} {
		_, err := os.Stat(filepath.Join(o.Dir(), name))
		is.NoErr(err) // every format written
	}

	// Cleanup: nothing of the run's prefix is left.
	imgs, err := api.ImageList(ctx, image.ListOptions{All: true})
	is.NoErr(err)
	for _, img := range imgs {
		for _, tag := range img.RepoTags {
			if strings.HasPrefix(tag, prefix) {
				t.Errorf("image %s left behind", tag)
			}
		}
		if img.Labels["org.dindbundler.bench"] == prefix {
			t.Errorf("image %s (%v) left behind", img.ID, img.RepoTags)
		}
	}
	cs, err := api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("name", prefix))})
	is.NoErr(err)
	is.Equal(len(cs), 0) // no container left
	vols, err := api.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("name", prefix))})
	is.NoErr(err)
	is.Equal(len(vols.Volumes), 0) // no volume left
	hostname, _ := os.Hostname()
	mine := fmt.Sprintf("%s=%s:%d", matrix.OwnerLabel, hostname, os.Getpid())
	cs, err = api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", mine))})
	is.NoErr(err)
	is.Equal(len(cs), 0) // the matrix engines the harness started are gone
}
