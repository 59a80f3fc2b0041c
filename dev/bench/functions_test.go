package bench

import (
	"cmp"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/producer/sam"
)

func TestFromEnvFunctions(t *testing.T) {
	tests := []struct {
		name      string
		env       []string
		functions int
		sizes     []int64
		own       int64 // 0: the default
		wantErr   string
	}{
		{name: "defaults", functions: 100, sizes: []int64{100 << 20, 1 << 30}},
		{name: "quick run", env: []string{"BENCH_FUNCTIONS=10", "BENCH_FUNCTION_SIZES=10MiB"}, functions: 10, sizes: []int64{10 << 20}},
		{name: "everything skipped", env: []string{"BENCH_FUNCTIONS=0", "BENCH_FUNCTION_SIZES=none"}, functions: 0, sizes: nil},
		{name: "sizes listed loosely", env: []string{"BENCH_FUNCTION_SIZES= 1GiB , 16MiB,"}, functions: 100, sizes: []int64{1 << 30, 16 << 20}},
		{name: "not a number", env: []string{"BENCH_FUNCTIONS=lots"}, wantErr: "BENCH_FUNCTIONS=\"lots\""},
		{name: "negative", env: []string{"BENCH_FUNCTIONS=-1"}, wantErr: "use 0 (skip) to 999"},
		{name: "too many", env: []string{"BENCH_FUNCTIONS=1000"}, wantErr: "use 0 (skip) to 999"},
		{name: "bad size", env: []string{"BENCH_FUNCTION_SIZES=big"}, wantErr: "BENCH_FUNCTION_SIZES"},
		{name: "bad own layer", env: []string{"BENCH_FUNCTION_OWN=big"}, wantErr: "BENCH_FUNCTION_OWN"},
		{name: "heavier functions", env: []string{"BENCH_FUNCTION_OWN=16MiB"}, functions: 100, sizes: []int64{100 << 20, 1 << 30}, own: 16 << 20},
		{name: "tiny size", env: []string{"BENCH_FUNCTION_SIZES=4KiB"}, wantErr: "at least 1MiB"},
		{name: "size twice", env: []string{"BENCH_FUNCTION_SIZES=1GiB,1024MiB"}, wantErr: "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			o, err := FromEnv(tt.env, "/w")
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr)) // names the variable and the fix
				return
			}
			is.NoErr(err)
			is.Equal(o.Functions, tt.functions)
			is.Equal(o.FunctionSizes, tt.sizes)
			is.Equal(o.FunctionOwn, cmp.Or(tt.own, FunctionOwnSize))
		})
	}
}

func TestSizeLabel(t *testing.T) {
	is := is.New(t)
	for in, want := range map[int64]string{1 << 30: "1gib", 100 << 20: "100mib", 1536 << 10: "1536kib", 1000: "1000b", 3 << 30: "3gib"} {
		is.Equal(SizeLabel(in), want)
	}
}

func TestFunctionBundles(t *testing.T) {
	tests := []struct {
		name                string
		functions           int
		sizes               []int64
		wantFns, wantSizes  int // function images of each bundle; -1: no bundle
		wantSizeFunctions   []string
		wantSizeImageTotals []int64 // base data + own of each sizes function
	}{
		{name: "both", functions: 3, sizes: []int64{100 << 20, 1 << 30}, wantFns: 3, wantSizes: 4,
			wantSizeFunctions:   []string{"size-100mib-a", "size-100mib-b", "size-1gib-a", "size-1gib-b"},
			wantSizeImageTotals: []int64{100 << 20, 100 << 20, 1 << 30, 1 << 30}},
		{name: "boots only", functions: 100, wantFns: 100, wantSizes: -1},
		{name: "calls only, a small size gets a quarter as its own layer", sizes: []int64{2 << 20}, wantFns: -1, wantSizes: 2,
			wantSizeFunctions: []string{"size-2mib-a", "size-2mib-b"}, wantSizeImageTotals: []int64{2 << 20, 2 << 20}},
		{name: "nothing", wantFns: -1, wantSizes: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			o := testOptions(8, 64<<20)
			o.Functions, o.FunctionSizes, o.FunctionOwn = tt.functions, tt.sizes, 3<<20
			s, err := PlanStack(o)
			is.NoErr(err)
			fns, sizes := s.FunctionBundles(o)
			count := func(b *FunctionBundle) int {
				if b == nil {
					return -1
				}
				return len(b.Functions)
			}
			is.Equal(count(fns), tt.wantFns)
			is.Equal(count(sizes), tt.wantSizes)
			if fns != nil {
				is.Equal(len(fns.Services), 8) // the stack's services, as the bench makes them
				is.Equal(len(fns.Bases), 1)    // every function shares one base
				is.Equal(fns.Functions[0].Name, "fn-001")
				is.Equal(fns.Functions[0].Own.Size, int64(3<<20)) // BENCH_FUNCTION_OWN
				is.Equal(s.ImageName(fns.Functions[0]), "127.0.0.1:5010/bench-fn-001:latest")
				is.Equal(len(fns.Layers()), 1+tt.wantFns) // the base's data once, then each own layer
				checkTemplate(t, fns)
			}
			if sizes != nil {
				is.Equal(len(sizes.Services), 1) // only the service that runs
				var names []string
				for i, f := range sizes.Functions {
					names = append(names, f.Name)
					is.Equal(f.Base.Data.Size+f.Own.Size, tt.wantSizeImageTotals[i])
					is.Equal(f.Own.Size, FunctionOwnOf(tt.sizes[i/2]))
					is.Equal(f.Base, sizes.Functions[i-i%2].Base) // a and b share the base
					is.Equal(FirstCallRow(f), FirstCallRowIDs(tt.sizes[i/2])[2*(i%2)])
				}
				is.Equal(names, tt.wantSizeFunctions)
				checkTemplate(t, sizes)
			}
		})
	}
}

// checkTemplate parses the bundle's template as the producer does: one Image function per
// function, built from its DockerContext.
func checkTemplate(t *testing.T, b *FunctionBundle) {
	t.Helper()
	is := is.New(t)
	tpl, err := sam.Parse([]byte(b.Template()), "/p", sam.Options{})
	is.NoErr(err)
	is.Equal(len(tpl.Functions), len(b.Functions))
	byName := map[string]sam.Function{}
	for _, f := range tpl.Functions {
		byName[f.Name] = f
	}
	for _, f := range b.Functions {
		got, ok := byName[f.Name]
		is.True(ok) // every function in the template, under its name
		is.Equal(got.PackageType, sam.PackageImage)
		is.True(strings.HasSuffix(got.DockerContext, FunctionDir(f)))
		is.Equal(got.Dockerfile, "Dockerfile")
	}
}

func TestFunctionDockerfiles(t *testing.T) {
	is := is.New(t)
	base := FunctionBase{Tag: "bench-fnbase-functions:latest", Data: Layer{Name: "fn-base", Size: 1}}
	is.Equal(FunctionBaseDockerfile(base), "FROM scratch\nCOPY svc /fn\nCOPY fn-base.bin /data/fn-base.bin\nENTRYPOINT [\"/fn\", \"-call\"]\n")
	f := Function{Name: "fn-007", Base: base, Own: Layer{Name: "fn-007-own"}}
	is.Equal(FunctionDockerfile(f), "# Generated by the dindbundler benchmark: function fn-007.\nFROM bench-fnbase-functions:latest\nCOPY own.bin /data/fn-007-own.bin\n")
	is.Equal(logicalID("size-100mib-a"), "Size100mibA")
	is.Equal(logicalID("fn-001"), "Fn001")
}

func TestFunctionRunSettings(t *testing.T) {
	is := is.New(t)
	o := testOptions(2, 16<<20)
	s, err := PlanStack(o)
	is.NoErr(err)
	m := s.FunctionRunSettings(o, "/b", "/c", "bench-bundle:functions", "zstd")
	is.Equal(m["CONTAINER_REGISTRY"], "127.0.0.1:5010")
	is.Equal(m["IMAGE_PREFIX"], "bench")
	is.Equal(m["FORCE"], "") // a new build directory; the services keep their images
	// The caller's CONTAINER_REGISTRY never reaches a run: the harness sets it or leaves it out.
	env := ChildEnv([]string{"CONTAINER_REGISTRY=10.0.0.1:5000", "PATH=/bin"}, s.RunSettings(o, "/b", "/c", "t", "zstd", false))
	is.True(!strings.Contains(strings.Join(env, " "), "10.0.0.1"))
}

func TestRegistryPulls(t *testing.T) {
	is := is.New(t)
	log := strings.Join([]string{
		"dindbundler-registry: serving 4 images on 127.0.0.1:5010",
		"dindbundler-registry: pull 127.0.0.1:5010/bench-size-10mib-a:latest: 10490368 bytes (10MiB) in 0.31 s, 4 blobs",
		"dindbundler-registry: GET /v2/x/manifests/latest: no image 127.0.0.1:5010/x:latest in this bundle",
		"dindbundler-registry: pull 127.0.0.1:5010/bench-size-10mib-b:latest: 2623412 bytes (2.502MiB) in 0.05 s, 2 blobs",
		"",
	}, "\n")
	is.Equal(RegistryPulls(log), []RegistryPull{
		{Name: "127.0.0.1:5010/bench-size-10mib-a:latest", Bytes: 10490368, Seconds: 0.31, Blobs: 4},
		{Name: "127.0.0.1:5010/bench-size-10mib-b:latest", Bytes: 2623412, Seconds: 0.05, Blobs: 2},
	})
	is.Equal(len(RegistryPulls("")), 0)
}

func TestMovedOnRestart(t *testing.T) {
	restart := time.Date(2026, 12, 7, 1, 0, 10, 0, time.UTC)
	first := strings.Join([]string{
		"2026-12-07T01:00:01.000Z dindbundler: loading images from /images",
		"2026-12-07T01:00:03.000Z dindbundler: pulled 127.0.0.1:5010/bench-fn-001:latest in 0.2s",
		"2026-12-07T01:00:03.100Z dindbundler: pulled 1 of 1 function images in 0.2s",
	}, "\n")
	tests := []struct {
		name     string
		after    []string
		registry int
		want     int
	}{
		{name: "nothing moved", after: []string{"2026-12-07T01:00:11.000Z dindbundler: registry ready on 127.0.0.1:5010 in 0.1s (1 images)", "2026-12-07T01:00:11.100Z dindbundler: images already loaded; skipping load"}},
		{name: "loaded again", after: []string{"2026-12-07T01:00:11.000Z dindbundler: loading images from /images"}, want: 1},
		{name: "pulled again, entrypoint's lines", after: []string{"2026-12-07T01:00:12.000Z dindbundler: pulled 127.0.0.1:5010/bench-fn-001:latest in 0.2s", "2026-12-07T01:00:12.100Z dindbundler: pulled 1 of 1 function images in 0.2s"}, want: 1},
		{name: "pulled by the runtime: only the registry saw it", registry: 2, want: 2},
		{name: "both see the same pulls", after: []string{"2026-12-07T01:00:12.000Z dindbundler: pulled a in 0.2s", "2026-12-07T01:00:12.000Z dindbundler: pulled b in 0.2s"}, registry: 2, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			log := first + "\n" + strings.Join(tt.after, "\n") + "\n"
			is.Equal(MovedOnRestart(log, restart, tt.registry), tt.want) // the first boot's load and pulls do not count
		})
	}
}

func TestFindLine(t *testing.T) {
	is := is.New(t)
	log := "2026-12-07T01:00:01.000Z dindbundler: pulled 3 of 3 function images in 0.5s\n2026-12-07T01:00:21.000Z dindbundler: pulled 0 of 0 function images in 0.0s\n"
	at, line, ok := FindLine(log, " function images in ", time.Date(2026, 12, 7, 1, 0, 10, 0, time.UTC))
	is.True(ok)
	is.Equal(at, time.Date(2026, 12, 7, 1, 0, 21, 0, time.UTC)) // the first one at or after since
	is.Equal(line, "dindbundler: pulled 0 of 0 function images in 0.0s")
	_, _, ok = FindLine(log, "registry ready", time.Time{})
	is.True(!ok)
}

func TestPushScript(t *testing.T) {
	is := is.New(t)
	script := PushScript([]string{"127.0.0.1:5010/bench-fn-001:latest", "127.0.0.1:5010/bench-fn-002:latest"})
	is.True(strings.HasPrefix(script, "set -e\n/usr/local/bin/bench-pushreg serve 127.0.0.1:5011 "))
	is.True(strings.Contains(script, "for n in 127.0.0.1:5010/bench-fn-001:latest 127.0.0.1:5010/bench-fn-002:latest; do"))
	is.True(strings.Contains(script, "t=127.0.0.1:5011/${n#*/}")) // same repository under the stand-in
	is.True(strings.Contains(script, `docker push -q "$t"`))
}

func TestBootPhasesRegistry(t *testing.T) {
	is := is.New(t)
	log := strings.Join([]string{
		"2026-12-07T01:00:00.200Z dindbundler: starting dockerd",
		"2026-12-07T01:00:01.000Z dindbundler: dockerd ready in 1s",
		"2026-12-07T01:00:01.150Z dindbundler: registry ready on 127.0.0.1:5010 in 0.1s (10 images)",
		"2026-12-07T01:00:01.250Z dindbundler: starting stack bench",
		"2026-12-07T01:00:01.750Z dindbundler: stack bench is up",
	}, "\n")
	start := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	got := BootPhases(log, start, start.Add(2*time.Second))
	for k, v := range got {
		got[k] = math.Round(v*1000) / 1000
	}
	is.Equal(got, map[string]float64{"to entrypoint": 0.2, "dockerd start": 0.8, "registry start": 0.15, "load+verify": 0.1, "compose up": 0.5, "healthy": 0.25})
}

func TestFunctionRowsAndTargets(t *testing.T) {
	o := testOptions(8, 64<<20)
	o.Compressions = []string{"zstd"}
	o.Functions, o.FunctionSizes = 100, []int64{100 << 20}
	tests := []struct {
		name string
		set  map[string]float64
		want map[string]string // target → status and measured
	}{
		{name: "all goals met",
			set: map[string]float64{"fn.boot.seed": 40, "fn.boot.ours": 10, "fn.boot.none": 9, "fn.restart.registry": 0.2, "fn.restart.moved": 0,
				"fn.second.100mib.bytes": 1<<20 + 2000},
			want: map[string]string{
				"first boot with functions: ours (b) vs the seed's way (a)": "PASS 0.250×",
				"first boot with functions: ours (b) vs no functions (c)":   "PASS 1.111×",
				"restart: registry ready after dockerd ready":               "PASS 0.20 s",
				"restart: function images moved again":                      "PASS 0",
				"second 100 MiB function: bytes pulled":                     "PASS 1 MiB",
			}},
		{name: "all missed",
			set: map[string]float64{"fn.boot.seed": 20, "fn.boot.ours": 10, "fn.boot.none": 5, "fn.restart.registry": 1.4, "fn.restart.moved": 3,
				"fn.second.100mib.bytes": 100 << 20},
			want: map[string]string{
				"first boot with functions: ours (b) vs the seed's way (a)": "MISS 0.500×",
				"first boot with functions: ours (b) vs no functions (c)":   "MISS 2.000×",
				"restart: registry ready after dockerd ready":               "MISS 1.40 s",
				"restart: function images moved again":                      "MISS 3",
				"second 100 MiB function: bytes pulled":                     "MISS 100 MiB",
			}},
		{name: "not measured",
			set: map[string]float64{},
			want: map[string]string{
				"first boot with functions: ours (b) vs the seed's way (a)": "N/A missing",
				"restart: function images moved again":                      "N/A missing",
				"second 100 MiB function: bytes pulled":                     "N/A missing",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			m := Measurements{}
			for id, v := range tt.set {
				m.Set(id, v)
			}
			rows := Rows(o, m)
			by := map[string]Row{}
			for _, r := range rows {
				by[r.ID] = r
			}
			for _, id := range FunctionRowIDs(o, true, true) {
				_, ok := by[id]
				is.True(ok) // every function row is in the table
			}
			if v, ok := tt.set["fn.boot.ours"]; ok {
				is.Equal(by["fn.boot.ours"].Ratio, v/tt.set["fn.boot.seed"]) // compared with (a)
				is.Equal(by["fn.boot.seed"].SeedID, "fn.boot.seed")          // (a) is the baseline
				is.Equal(formatRatio(by["fn.boot.seed"]), "1.00×")
				is.Equal(formatRatio(by["fn.restart.moved"]), "—") // compared with nothing
				is.Equal(by["fn.restart.moved"].SeedID, "")
				is.Equal(formatValue(by["fn.restart.moved"]), formatValue(Row{Status: StatusOK, Unit: UnitCount, Value: tt.set["fn.restart.moved"]}))
			}
			got := map[string]string{}
			for _, tg := range Targets(o, rows) {
				got[tg.What] = tg.Status + " " + tg.Measured
			}
			for what, want := range tt.want {
				is.Equal(got[what], want)
			}
			rep := Report{Settings: SettingsOf(o), Engines: []EngineReport{EngineReportOf(o, "host", m)}, Notes: reportNotes(o)}
			text := rep.Text()
			is.True(strings.Contains(text, "functions: 100 function images")) // the header says what was measured
			is.True(strings.Contains(text, "(d) stands in for the upstream's registry:2"))
			for _, r := range rows {
				is.True(strings.Contains(text, r.What))
			}
		})
	}
}

func TestFunctionPhaseNote(t *testing.T) {
	is := is.New(t)
	is.Equal(len(FunctionPhaseNote(Measurements{})), 0) // nothing measured, no note
	m := Measurements{}
	for who, v := range map[string]float64{fnSeed: 3, fnOurs: 1, fnNone: 0.9, fnUpstream: 2.9} {
		m.Sample(phaseID(who, "boot", "load+verify"), v)
	}
	m.Sample(phaseID(fnOurs, "boot", "registry start"), 0.1)
	is.Equal(FunctionPhaseNote(m), []string{"first boot phases with functions (median), (a) seed's way → (b) ours → (c) no functions → (d) upstream's until healthy: " +
		"registry start – → 0.10 → – → – s, load+verify 3.00 → 1.00 → 0.90 → 2.90 s"})
}
