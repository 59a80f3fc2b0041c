package producer

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

// TestCheckCoversBuildInputs: the builders' inputs (lock files and manifests next to the code,
// `sam build` output) make the manifest stale, so Deploy rebuilds when only they change.
func TestCheckCoversBuildInputs(t *testing.T) {
	t0 := time.Now().Add(-time.Hour)
	for _, changed := range []string{"src/package-lock.json", "src/requirements.txt", "src/go.sum", ".aws-sam/build/template.yaml"} {
		t.Run(changed, func(t *testing.T) {
			is := is.New(t)
			dir := t.TempDir()
			touch(t, filepath.Join(dir, "template.yaml"), t0)
			touch(t, filepath.Join(dir, "src/app.js"), t0)
			touch(t, filepath.Join(dir, ".esb/default/bundle/manifest.json"), t0.Add(time.Minute))
			touch(t, filepath.Join(dir, changed), t0.Add(2*time.Minute))
			steps, err := Plan(load(t, dir, "TEMPLATE=template.yaml"))
			is.NoErr(err)
			d, err := Check(steps[0], false, nil)
			is.NoErr(err)
			is.True(!d.Fresh)
			is.True(strings.Contains(d.Reason, changed+" changed")) // the reason names the file
		})
	}
}
