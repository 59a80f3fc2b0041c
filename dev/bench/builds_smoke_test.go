package bench_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dev/bench"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/engine/matrix"
)

// TestBuildsSmoke runs the builds mode at its smallest (two Node.js functions with an npm
// dependency, two without): every row measured, the installs each must run counted, and
// nothing of the run left behind. The buildkitd rows run only when BENCH_BUILDKITD names a
// buildkitd (not DINDBUNDLER_BUILDKITD, which CI sets for the producer's tests): each of their
// images comes back as an archive with the whole Node image. No timing is asserted.
func TestBuildsSmoke(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	if err := npmReachable(); err != nil {
		t.Skipf("the npm registry is unreachable, and the functions' dependencies come from it: %v", err)
	}
	prefix := fmt.Sprintf("bench-b%d-", os.Getpid())
	o := bench.Options{BuildDir: t.TempDir(), Prefix: prefix, Builds: 2, Buildkitd: os.Getenv("BENCH_BUILDKITD")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var log strings.Builder
	rep, err := bench.RunBuilds(ctx, o, os.Environ(), &log)
	if err != nil {
		t.Fatalf("%v\nharness log:\n%s", err, log.String())
	}
	t.Logf("\n%s", rep.Text())
	want := map[string]int{bench.BuildClassicCold: 2, bench.BuildKitCold: 2, bench.BuildKitOneDep: 1, bench.BuildKitRestored: 0}
	if o.Buildkitd != "" {
		want[bench.BuildkitdOne], want[bench.BuildkitdTwo] = 2, 2
	}
	for _, r := range rep.Rows {
		installs, measured := want[r.ID]
		switch {
		case r.ID == bench.BuildRSS:
			is.True(r.RSSBytes > 0) // the mage process's peak
		case measured:
			if r.Status != bench.StatusOK || r.Seconds <= 0 || r.Installs != installs {
				t.Errorf("row %s: status %s, %.1fs, %d installs (want %d), note %q", r.ID, r.Status, r.Seconds, r.Installs, installs, r.Note)
			}
		default:
			is.Equal(r.Status, "not reached") // the buildkitd rows without a buildkitd
		}
	}
	for _, name := range []string{"builds.md", "builds.txt", "builds.json"} {
		_, err := os.Stat(o.Dir() + "/" + name)
		is.NoErr(err) // every format written
	}

	imgs, err := api.ImageList(ctx, image.ListOptions{All: true})
	is.NoErr(err)
	for _, img := range imgs {
		for _, tag := range img.RepoTags {
			if strings.HasPrefix(tag, prefix) {
				t.Errorf("image %s left behind", tag)
			}
		}
	}
	hostname, _ := os.Hostname()
	mine := fmt.Sprintf("%s=%s:%d", matrix.OwnerLabel, hostname, os.Getpid())
	cs, err := api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", mine))})
	is.NoErr(err)
	is.Equal(len(cs), 0) // the matrix engines the run started are gone
}

// npmReachable asks the npm registry for one of the packages the functions depend on.
func npmReachable() error {
	c := &http.Client{Timeout: 15 * time.Second}
	resp, err := c.Get("https://registry.npmjs.org/ms")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET https://registry.npmjs.org/ms: %s", resp.Status)
	}
	return nil
}
