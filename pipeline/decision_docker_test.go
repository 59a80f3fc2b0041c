package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// The Docker-backed stages on a real engine: what the dry run decides (the plans PrintPlan
// prints) is what the next run reports in its summary, skipped with the same reason, or run for
// it.
func TestDryRunVerdictIsTheRuns(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, e enginetest.Engine, api *engine.Engine) {
		is := is.New(t)
		ctx := context.Background()
		p := newProject(t, e, api, "")
		b := p.bundler(t, api)
		enginetest.Cleanup(t, api, b.Config.BundleTag)
		is.NoErr(runAll(t, ctx, b))

		dryPlans := func(b *Bundler) map[string]fresh.Plan {
			m, err := b.readMerged()
			is.NoErr(err)
			manifest, _, err := b.planManifest()
			is.NoErr(err)
			save, err := b.planSave(m.Names(), nil, &layerstore.Store{Dir: b.storeDir()})
			is.NoErr(err)
			state, err := fresh.ReadState(b.statePath("image"))
			is.NoErr(err)
			return map[string]fresh.Plan{"manifest": manifest, "save": save, "image": b.planImage(state, nil, nil)}
		}
		for _, extra := range [][]string{nil, {"BUNDLE_COMPRESSION=gzip"}} {
			dry := dryPlans(p.bundler(t, api, extra...))
			b := p.bundler(t, api, extra...)
			is.NoErr(runAll(t, ctx, b))
			for _, st := range readSummary(t, b).Stages {
				d, ok := dry[st.Stage]
				if !ok {
					continue
				}
				switch {
				case !st.Ran:
					is.True(d.Fresh)
					is.Equal(st.Why, "skipped, "+d.Reason) // the reason the dry run printed
				case !d.Fresh:
					is.True(strings.Contains(st.Why, d.Reason)) // ran for the reason the dry run printed
				default:
					is.True(d.Pending != "") // ran for what only the daemon tells, which the dry run named
				}
				t.Logf("%s: ran %t (%s); dry run: fresh %t, %s", st.Stage, st.Ran, st.Why, d.Fresh, d.Reason)
			}
		}
	})
}
