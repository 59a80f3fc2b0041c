package bench

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/producer/sam"
)

func TestNpmDepsAreDistinctVersions(t *testing.T) {
	is := is.New(t)
	deps, err := NpmDeps()
	is.NoErr(err)
	is.True(len(deps) >= 61) // 60 functions and the spare of the stack
	seen := map[string]bool{}
	for _, d := range deps {
		key := d.Name + "@" + d.Version
		is.True(!seen[key]) // each install downloads its own tarball
		seen[key] = true
		is.True(strings.HasPrefix(d.Tarball, "https://registry.npmjs.org/"+d.Name+"/-/"))
	}
	is.Equal(MaxBuilds(), len(deps)-1)
}

func TestPlanBuilds(t *testing.T) {
	tests := []struct {
		n    int
		fail bool
	}{{n: 1}, {n: 2}, {n: 60}, {n: MaxBuilds()}, {n: 0, fail: true}, {n: MaxBuilds() + 1, fail: true}}
	for _, tt := range tests {
		is := is.New(t)
		s, err := PlanBuilds(tt.n)
		if tt.fail {
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), "BENCH_BUILDS"))
			continue
		}
		is.NoErr(err)
		is.Equal(len(s.Deps), tt.n)
		is.Equal(s.Plain, tt.n)
		for _, d := range s.Deps {
			is.True(d != s.Spare) // the changed run downloads something new
		}
	}
}

func TestBuildsFiles(t *testing.T) {
	is := is.New(t)
	s, err := PlanBuilds(3)
	is.NoErr(err)
	files := s.Files(false)
	tpl, err := sam.Parse([]byte(files["template.yaml"]), "/p", sam.Options{})
	is.NoErr(err)
	is.Equal(len(tpl.Functions), 6)
	for _, f := range tpl.Functions {
		is.Equal(f.Runtime, NodeRuntime)
		is.True(strings.HasSuffix(f.CodeURI, "/functions/"+f.Name))
		_, ok := files["functions/"+f.Name+"/index.js"]
		is.True(ok) // every function has its handler
	}
	for i, d := range s.Deps {
		name := DepFunction(i)
		var pkg struct{ Dependencies map[string]string }
		is.NoErr(json.Unmarshal([]byte(files["functions/"+name+"/package.json"]), &pkg))
		is.Equal(pkg.Dependencies, map[string]string{d.Name: d.Version})
		var lock struct {
			LockfileVersion int
			Packages        map[string]struct {
				Version, Resolved, Integrity string
				Dependencies                 map[string]string
			}
		}
		is.NoErr(json.Unmarshal([]byte(files["functions/"+name+"/package-lock.json"]), &lock))
		is.Equal(lock.LockfileVersion, 3)
		is.Equal(lock.Packages[""].Dependencies, pkg.Dependencies) // npm ci accepts it
		got := lock.Packages["node_modules/"+d.Name]
		is.Equal(got.Version, d.Version)
		is.Equal(got.Resolved, d.Tarball)
		is.Equal(got.Integrity, d.Integrity)
	}
	for i := 0; i < s.Plain; i++ {
		_, ok := files["functions/"+PlainFunction(i)+"/package.json"]
		is.True(!ok) // no dependencies: the builder has nothing to install
	}

	changed := changedFiles(s)
	is.Equal(len(changed), 3) // the changed function's handler, package.json and lock
	is.True(strings.Contains(changed["functions/dep001/package.json"], s.Spare.Version))
	is.True(strings.Contains(changed["functions/dep001/package-lock.json"], s.Spare.Integrity))
	is.Equal(s.Files(true)["functions/dep002/package.json"], files["functions/dep002/package.json"])
}

func TestBuildsSettings(t *testing.T) {
	tests := []struct {
		name string
		run  BuildRun
		want map[string]string
		none []string
	}{
		{name: "classic, cold", run: BuildRun{Classic: true, Cold: true},
			want: map[string]string{"DEPLOY_BUILDER": "classic", "FORCE": "1"}, none: []string{"BUILD_CACHE", "BUILDKIT_HOST", "BUILDERS"}},
		{name: "engine's BuildKit with a cache", run: BuildRun{Cache: "/c"},
			want: map[string]string{"DEPLOY_BUILDER": "buildkit", "BUILD_CACHE": "type=local,dest=/c"}, none: []string{"FORCE", "BUILDKIT_HOST", "BUILDERS"}},
		{name: "one buildkitd", run: BuildRun{Builders: []string{"unix:///a"}, Cold: true},
			want: map[string]string{"BUILDKIT_HOST": "unix:///a"}, none: []string{"BUILDERS", "BUILD_CACHE"}},
		{name: "two buildkitds", run: BuildRun{Builders: []string{"unix:///a", "unix:///b"}},
			want: map[string]string{"BUILDERS": "unix:///a,unix:///b"}, none: []string{"BUILDKIT_HOST"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got := BuildsSettings(tt.run, "/b", "/cache", "img:1", "bench-")
			for k, v := range tt.want {
				is.Equal(got[k], v)
			}
			for _, k := range tt.none {
				_, ok := got[k]
				is.True(!ok)
			}
			is.Equal(got["RUNTIME_BASE_NODEJS20_X"], "img:1")
			is.Equal(got["BUILD_IMAGE_NODEJS20_X"], "img:1")
			is.Equal(got["MAGEFILE_VERBOSE"], "1") // installs are counted from every step's line
			is.Equal(got["IMAGE_PREFIX"], "bench-builds")
		})
	}
	// The caller's builder settings never reach a run that does not set them.
	env := ChildEnv([]string{"BUILDKIT_HOST=tcp://x", "BUILD_IMAGE_NODEJS20_X=y", "BUILD_CACHE=z", "HOME=/root"}, map[string]string{"DEPLOY_BUILDER": "classic"})
	is.New(t).Equal(env, []string{"HOME=/root", "DEPLOY_BUILDER=classic"})
}

func TestCountInstalls(t *testing.T) {
	tests := []struct {
		name, output string
		want         int
	}{
		{name: "BuildKit: DONE runs, CACHED does not", want: 2, output: `images: 4 of 4 to build (first build)
bench-builds-dep001:latest: DONE [build-Dep001 3/5] RUN --mount=type=cache,id=dindbundler-npm,target=/var/cache/dindbundler/npm,sharing=locked export npm_config_cache=/var/cache/dindbundler/npm && mkdir -p /build/deps /build/out && npm ci --no-audit --no-fund --omit=dev && mkdir -p node_modules
bench-builds-dep002:latest: CACHED [build-Dep002 3/5] RUN --mount=type=cache,id=dindbundler-npm,target=/var/cache/dindbundler/npm,sharing=locked export npm_config_cache=/var/cache/dindbundler/npm && mkdir -p /build/deps /build/out && npm ci --no-audit --no-fund --omit=dev && mkdir -p node_modules
bench-builds-dep003:latest: DONE [build-Dep003 3/5] RUN --mount=type=cache,id=dindbundler-npm,target=/var/cache/dindbundler/npm,sharing=locked export npm_config_cache=/var/cache/dindbundler/npm && mkdir -p /build/deps /build/out && npm install --no-audit --no-fund --no-save --no-package-lock --omit=dev && mkdir -p node_modules
bench-builds-dep003:latest: added 1 package in 1s
bench-builds-plain001:latest: DONE [2/2] COPY functions/plain001/ /var/task/
`},
		{name: "classic: Running in runs, Using cache does not", want: 1, output: `bench-builds-dep001:latest: Step 4/9 : RUN mkdir -p /build/deps /build/out && npm ci --no-audit --no-fund --omit=dev && mkdir -p node_modules
bench-builds-dep002:latest: Step 4/9 : RUN mkdir -p /build/deps /build/out && npm ci --no-audit --no-fund --omit=dev && mkdir -p node_modules
bench-builds-dep001:latest:  ---> Running in 0123456789ab
bench-builds-dep002:latest:  ---> Using cache
`},
		{name: "nothing built", output: "images: all 4 unchanged, none to build\n", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is.New(t).Equal(CountInstalls(tt.output), tt.want)
		})
	}
}

func TestEvaluateBuilds(t *testing.T) {
	is := is.New(t)
	got := map[string]BuildMeasure{
		BuildClassicCold: {Seconds: 100, Installs: 2, RSSBytes: 40e6},
		BuildKitCold:     {Seconds: 40, Installs: 2, RSSBytes: 90e6},
		BuildKitOneDep:   {Seconds: 5, Installs: 2, RSSBytes: 50e6}, // ran too many
		BuildKitRestored: {Err: "mage deploy failed"},
		BuildkitdOne:     {Seconds: 50, Installs: 2, RSSBytes: 60e6},
	}
	rows, peak := EvaluateBuilds(2, got)
	is.Equal(peak, int64(90e6))
	byID := map[string]BuildRow{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	is.Equal(len(rows), len(BuildRowSpecs(2))+1)
	is.Equal(byID[BuildKitCold].Ratio, 0.4)
	is.Equal(byID[BuildKitCold].Met, "yes")
	is.Equal(byID[BuildKitOneDep].Ratio, 0.125)
	is.Equal(byID[BuildKitOneDep].Met, "no")
	is.True(strings.Contains(byID[BuildKitOneDep].Note, "2 installs ran, want 1"))
	is.Equal(byID[BuildKitRestored].Status, StatusError)
	is.Equal(byID[BuildkitdTwo].Status, "not reached")
	is.Equal(byID[BuildRSS].Met, "yes")
	rep := BuildsReport{Functions: 2, Rows: rows}
	md := rep.Markdown()
	is.True(strings.Contains(md, "| cold Deploy, the engine's BuildKit, BUILD_CACHE exported | 40.0 s | 2 | 0.40× classic.cold (goal ≤ 0.5×) | yes | 90 MB |"))
	is.True(strings.Contains(rep.Text(), "not reached"))
}

func TestFromEnvBuilds(t *testing.T) {
	tests := []struct {
		env       []string
		builds    int
		buildkitd string
		fail      string
	}{
		{env: nil, builds: 0},
		{env: []string{"BENCH_BUILDS=60", "DINDBUNDLER_BUILDKITD=/bin/bk"}, builds: 60, buildkitd: "/bin/bk"},
		{env: []string{"BENCH_BUILDS=2", "BENCH_BUILDKITD=/a", "DINDBUNDLER_BUILDKITD=/b"}, builds: 2, buildkitd: "/a"},
		{env: []string{"BENCH_BUILDS=x"}, fail: "BENCH_BUILDS=\"x\""},
		{env: []string{"BENCH_BUILDS=1000"}, fail: "BENCH_BUILDS=1000"},
	}
	for _, tt := range tests {
		is := is.New(t)
		o, err := FromEnv(tt.env, "/w")
		if tt.fail != "" {
			is.True(err != nil && strings.Contains(err.Error(), tt.fail))
			continue
		}
		is.NoErr(err)
		is.Equal(o.Builds, tt.builds)
		is.Equal(o.Buildkitd, tt.buildkitd)
	}
}

func TestClassicSample(t *testing.T) {
	tests := []struct {
		n, classic, sample int
		scale              float64
	}{{60, 0, 60, 1}, {60, 60, 60, 1}, {60, 6, 6, 10}, {2, 1, 1, 2}}
	for _, tt := range tests {
		is := is.New(t)
		sample, scale := ClassicSample(tt.n, tt.classic)
		is.Equal(sample, tt.sample)
		is.Equal(scale, tt.scale)
	}
	is := is.New(t)
	_, err := FromEnv([]string{"BENCH_BUILDS=4", "BENCH_BUILDS_CLASSIC=5"}, "/w")
	is.True(err != nil && strings.Contains(err.Error(), "BENCH_BUILDS_CLASSIC=5"))
	o, err := FromEnv([]string{"BENCH_BUILDS=60", "BENCH_BUILDS_CLASSIC=6"}, "/w")
	is.NoErr(err)
	is.Equal(o.BuildsClassic, 6)

	// A scaled row says so, and its ratio uses the scaled time.
	rows, _ := EvaluateBuilds(60, map[string]BuildMeasure{
		BuildClassicCold: {Seconds: 50, Installs: 6, RSSBytes: 1, Scale: 10},
		BuildKitCold:     {Seconds: 100, Installs: 60, RSSBytes: 1},
	})
	is.Equal(rows[0].Seconds, 500.0)
	is.Equal(rows[0].Installs, 60)
	is.True(strings.Contains(rows[0].Note, "measured 50.0 s and 6 installs on 1/10 of the functions"))
	is.Equal(rows[1].Ratio, 0.2)
}

// TestLayoutTraffic: the producer's line on its OCI layout becomes the buildkitd rows' note.
func TestLayoutTraffic(t *testing.T) {
	is := is.New(t)
	out := "x\nbuilds: 470.2 MB from the builders into /b/.esb/oci-layout, 481.0 MB loaded into the engine (9100.5 MB of layers it had left out)\n"
	is.Equal(LayoutTraffic(out), "470.2 MB from the buildkitds into the build directory's OCI layout, 481.0 MB loaded into the engine, 9100.5 MB of layers the engine had left out")
	is.Equal(LayoutTraffic("builds: on BUILDKIT_HOST=unix:///a\n"), "")
}

// TestBuildsRows: BENCH_BUILDS_ROWS picks rows by ID and refuses what cannot run; the rows
// not picked stay in the table, marked, and give no ratio.
func TestBuildsRows(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		rows []string // nil: all
		fail string
	}{
		{name: "unset: all", env: []string{"BENCH_BUILDS=60"}},
		{name: "buildkitds", env: []string{"BENCH_BUILDS=60", "BENCH_BUILDKITD=/bk", "BENCH_BUILDS_ROWS= buildkitd.one, BUILDKITD.two,"}, rows: []string{BuildkitdOne, BuildkitdTwo}},
		{name: "restored from the cold run", env: []string{"BENCH_BUILDS=2", "BENCH_BUILDS_ROWS=buildkit.cold,buildkit.restored"}, rows: []string{BuildKitCold, BuildKitRestored}},
		{name: "unknown", env: []string{"BENCH_BUILDS=2", "BENCH_BUILDS_ROWS=buildkit.warm"}, fail: `unknown row "buildkit.warm": use classic.cold,buildkit.cold,`},
		{name: "twice", env: []string{"BENCH_BUILDS=2", "BENCH_BUILDS_ROWS=classic.cold,classic.cold"}, fail: "names classic.cold twice"},
		{name: "empty", env: []string{"BENCH_BUILDS=2", "BENCH_BUILDS_ROWS=,"}, fail: "names no row"},
		{name: "change without cold", env: []string{"BENCH_BUILDS=2", "BENCH_BUILDS_ROWS=buildkit.onedep"}, fail: "add buildkit.cold"},
		{name: "restored without cold", env: []string{"BENCH_BUILDS=2", "BENCH_BUILDS_ROWS=classic.cold,buildkit.restored"}, fail: "add buildkit.cold"},
		{name: "buildkitd without binary", env: []string{"BENCH_BUILDS=2", "BENCH_BUILDS_ROWS=buildkitd.two"}, fail: "BENCH_BUILDKITD"},
		{name: "buildkitd rows into a matrix engine", env: []string{"BENCH_BUILDS=2", "BENCH_BUILDKITD=/bk", "BENCH_BUILDKITD_ENGINE=28-containerd", "BENCH_BUILDS_ROWS=buildkitd.one"}, rows: []string{BuildkitdOne}},
		{name: "buildkitd rows into an unknown engine", env: []string{"BENCH_BUILDS=2", "BENCH_BUILDKITD=/bk", "BENCH_BUILDKITD_ENGINE=29-containerd"}, fail: `BENCH_BUILDKITD_ENGINE="29-containerd": use host or one of 28-classic, 28-containerd, 26-classic`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			o, err := FromEnv(tt.env, "/w")
			if tt.fail != "" {
				is.True(err != nil && strings.Contains(err.Error(), tt.fail))
				return
			}
			is.NoErr(err)
			is.Equal(o.BuildsRows, tt.rows)
			for _, spec := range BuildRowSpecs(o.Builds) {
				is.Equal(o.BuildsRow(spec.ID), tt.rows == nil || slices.Contains(tt.rows, spec.ID))
			}
		})
	}

	is := is.New(t)
	rows, peak := EvaluateBuilds(60, map[string]BuildMeasure{
		BuildClassicCold: {Skipped: "not selected (BENCH_BUILDS_ROWS)"},
		BuildKitCold:     {Seconds: 100, Installs: 60, RSSBytes: 40e6},
		BuildkitdOne:     {Skipped: "not selected (BENCH_BUILDS_ROWS)"},
		BuildkitdTwo:     {Seconds: 80, Installs: 60, RSSBytes: 50e6},
	})
	byID := map[string]BuildRow{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	is.Equal(byID[BuildClassicCold].Status, "not selected (BENCH_BUILDS_ROWS)")
	is.Equal(byID[BuildKitCold].Status, StatusOK)
	is.Equal(byID[BuildKitCold].Ratio, 0.0) // no classic figure to compare with
	is.Equal(byID[BuildKitCold].Met, "")
	is.Equal(byID[BuildkitdTwo].Ratio, 0.0)
	is.Equal(byID[BuildKitRestored].Status, "not reached")
	is.Equal(peak, int64(50e6))
}

// TestBuildsNotesFollowRows: the notes explain only the rows a run selects.
func TestBuildsNotesFollowRows(t *testing.T) {
	tests := []struct {
		rows      []string
		want, not []string
	}{
		{rows: nil, want: []string{"dep001's package.json", "a second Engine 28.5", "started here (OCI worker)"}},
		{rows: []string{BuildkitdOne, BuildkitdTwo}, want: []string{"started here (OCI worker)", "rows run: buildkitd.one,buildkitd.two"}, not: []string{"dep001", "a second Engine 28.5", "BENCH_BUILDS_CLASSIC"}},
		{rows: []string{BuildClassicCold, BuildKitCold}, want: []string{"BENCH_BUILDS_CLASSIC"}, not: []string{"dep001", "OCI worker"}},
	}
	for _, tt := range tests {
		is := is.New(t)
		text := strings.Join(buildsNotes(Options{Builds: 60, BuildsClassic: 6, BuildsRows: tt.rows}), "\n")
		for _, w := range tt.want {
			is.True(strings.Contains(text, w)) // a note the rows need
		}
		for _, n := range tt.not {
			is.True(!strings.Contains(text, n)) // a note on a row not run
		}
	}
}
