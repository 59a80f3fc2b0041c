package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"math"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/compose"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "4096", want: 4096},
		{in: "1GiB", want: 1 << 30},
		{in: "64MiB", want: 64 << 20},
		{in: " 16mib ", want: 16 << 20},
		{in: "1.5G", want: 3 << 29},
		{in: "512K", want: 512 << 10},
		{in: "500MB", want: 500_000_000},
		{in: "2gb", want: 2_000_000_000},
		{in: "10 KiB", want: 10 << 10},
		{in: "7B", want: 7},
		{in: "1TiB", want: 1 << 40},
		{in: "", wantErr: true},
		{in: "MiB", wantErr: true},
		{in: "-1MiB", wantErr: true},
		{in: "lots", wantErr: true},
		{in: "NaN", wantErr: true},
		{in: "1e30GiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			is := is.New(t)
			got, err := ParseSize(tt.in)
			if tt.wantErr {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), "size")) // the message names the problem
				return
			}
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		check   func(*is.I, Options)
		wantErr string
	}{
		{name: "defaults", check: func(is *is.I, o Options) {
			is.Equal(o.BuildDir, "/w/build")
			is.Equal(o.Images, 8)
			is.Equal(o.Size, int64(1<<30))
			is.Equal(o.Compressible, 0.5)
			is.Equal(o.Compressions, []string{"none", "gzip", "zstd"})
			is.Equal(o.DefaultCompression(), "zstd")                 // the pipeline's default
			is.Equal(o.RunOrder(), []string{"none", "gzip", "zstd"}) // the default last
			is.Equal(o.Prefix, "bench-")
			is.Equal(o.Dir(), "/w/build/bench")
			is.Equal(o.Engines, []string{"host"}) // today's engine: DOCKER_HOST
			is.Equal(o.Boots, 1)
			is.Equal(o.Runs, 1)
		}},
		{name: "engines, runs and boots", env: []string{"BENCH_ENGINES=host, 28-containerd,28-classic", "BENCH_BOOTS=3", "BENCH_RUNS=2"}, check: func(is *is.I, o Options) {
			is.Equal(o.Engines, []string{"host", "28-containerd", "28-classic"}) // in the order given
			is.Equal(o.Boots, 3)
			is.Equal(o.Runs, 2)
		}},
		{name: "bad runs", env: []string{"BENCH_RUNS=0"}, wantErr: "BENCH_RUNS=0: use 1 to 9"},
		{name: "unknown engine", env: []string{"BENCH_ENGINES=host,29-classic"}, wantErr: `BENCH_ENGINES=host,29-classic: unknown engine "29-classic"`},
		{name: "bad boots", env: []string{"BENCH_BOOTS=some"}, wantErr: "BENCH_BOOTS"},
		{name: "too many boots", env: []string{"BENCH_BOOTS=10"}, wantErr: "use 1 to 9 boots"},
		{name: "overrides", env: []string{"BUILD_DIR=/tmp/b", "BENCH_IMAGES=3", "BENCH_SIZE=16MiB", "BENCH_COMPRESSIBLE=0.25", "BENCH_COMPRESSIONS= gzip , NONE"},
			check: func(is *is.I, o Options) {
				is.Equal(o.BuildDir, "/tmp/b")
				is.Equal(o.Images, 3)
				is.Equal(o.Size, int64(16<<20))
				is.Equal(o.Compressible, 0.25)
				is.Equal(o.Compressions, []string{"gzip", "none"})
				is.Equal(o.DefaultCompression(), "none") // the default (zstd) not listed: the last one
				is.Equal(o.RunOrder(), []string{"gzip", "none"})
			}},
		{name: "relative build dir", env: []string{"BUILD_DIR=out"}, check: func(is *is.I, o Options) { is.Equal(o.Dir(), "/w/out/bench") }},
		{name: "bad images", env: []string{"BENCH_IMAGES=many"}, wantErr: "BENCH_IMAGES"},
		{name: "zero images", env: []string{"BENCH_IMAGES=0"}, wantErr: "BENCH_IMAGES=0"},
		{name: "too small", env: []string{"BENCH_SIZE=1KiB"}, wantErr: "at least 1MiB"},
		{name: "bad size", env: []string{"BENCH_SIZE=big"}, wantErr: "BENCH_SIZE"},
		{name: "bad fraction", env: []string{"BENCH_COMPRESSIBLE=1.5"}, wantErr: "BENCH_COMPRESSIBLE"},
		{name: "bad compression", env: []string{"BENCH_COMPRESSIONS=gzip,lz4"}, wantErr: `"lz4"`},
		{name: "duplicate compression", env: []string{"BENCH_COMPRESSIONS=gzip,gzip"}, wantErr: "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			o, err := FromEnv(tt.env, "/w")
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr))
				return
			}
			is.NoErr(err)
			tt.check(is, o)
		})
	}
}

func testOptions(images int, size int64) Options {
	return Options{BuildDir: "/w/build", Images: images, Size: size, Compressible: 0.5, Compressions: []string{"gzip"}, Prefix: "bench-", Engines: []string{"host"}, Runs: 1, Boots: 1}
}

func TestPlanStack(t *testing.T) {
	tests := []struct {
		images int
		size   int64
	}{
		{8, 1 << 30},
		{3, 16 << 20},
		{1, 1 << 20},
		{7, 100_000_007}, // sizes that do not divide evenly
		{99, 64 << 20},
	}
	for _, tt := range tests {
		is := is.New(t)
		s, err := PlanStack(testOptions(tt.images, tt.size))
		is.NoErr(err)
		is.Equal(len(s.Images), tt.images)
		is.Equal(s.Total(), tt.size)         // every byte planned exactly once
		is.Equal(s.Shared.Size, tt.size/4)   // a quarter shared by all images
		is.True(s.Images[0].Runs)            // the first image is the service
		is.Equal(s.Images[0].Service, "svc") // under the service name
		changed := s.Changed()
		last := s.Images[tt.images-1]
		is.Equal(changed.Data, last.Data)                    // the last image changes
		is.Equal(changed.Layers[0], last.Layers[0])          // below its top layer nothing changes
		is.Equal(changed.Layers[1].Variant, 1)               // its top layer is new content
		is.Equal(s.Images[tt.images-1].Layers[1].Variant, 0) // and the plan stays as it was, for the next engine
		is.Equal(s.Changed().Layers[1].Variant, 1)
		names := map[string]bool{s.Shared.Name: true}
		for i, img := range s.Images {
			is.Equal(img.Runs, i == 0)
			is.True(strings.HasPrefix(s.DataDockerfile(img), "FROM bench-base:latest\n")) // shares the base layer
			is.True(strings.HasPrefix(img.Data, "bench-"))
			is.True(strings.HasPrefix(img.Wrapper, "bench-"))
			for _, l := range img.Layers {
				is.True(l.Size > 0)
				is.True(!names[l.Name]) // layer names are unique
				names[l.Name] = true
				is.True(strings.Contains(s.DataDockerfile(img), "COPY "+l.Name+".bin ")) // every layer is built
			}
			top := img.Layers[len(img.Layers)-1]
			is.True(strings.HasSuffix(s.DataDockerfile(img), "COPY "+top.Name+".bin /data/"+top.Name+".bin\n") || img.Runs) // the top layer is the last
		}
	}
}

func TestPlanStackRejectsBadOptions(t *testing.T) {
	is := is.New(t)
	_, err := PlanStack(testOptions(0, 1<<20))
	is.True(err != nil)
	_, err = PlanStack(testOptions(3, 1000))
	is.True(err != nil)
}

// The compose file and wrappers must read, through the producer's own parser, as one built
// service per image with the service first.
func TestComposeFileParses(t *testing.T) {
	is := is.New(t)
	s, err := PlanStack(testOptions(3, 16<<20))
	is.NoErr(err)
	f, err := compose.Parse([]byte(s.ComposeFile()), "/p", nil)
	is.NoErr(err)
	is.Equal(len(f.Services), 3)
	got := map[string]string{}
	for _, svc := range f.Services {
		is.True(svc.Build != nil) // built by the producer
		got[svc.Name] = svc.Image + " " + svc.Build.Context
	}
	is.Equal(got, map[string]string{
		"svc":     "bench-img-01:latest /p/images/01",
		"data-02": "bench-img-02:latest /p/images/02",
		"data-03": "bench-img-03:latest /p/images/03",
	})
	is.Equal(strings.Count(s.ComposeFile(), `profiles: ["data"]`), 2) // only the service starts
	is.True(strings.Contains(s.ComposeFile(), `test: ["CMD", "/svc", "-healthcheck"]`))
	w := s.WrapperDockerfile(s.Images[2], "sha256:abc")
	is.True(strings.HasSuffix(w, "\nFROM bench-data-03:latest\n"))
	is.True(strings.Contains(w, "sha256:abc")) // a new data image rewrites the wrapper
}

func gzipRatio(t *testing.T, data []byte) float64 {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return float64(buf.Len()) / float64(len(data))
}

func TestWriteLayer(t *testing.T) {
	gen := func(l Layer, f float64) []byte {
		var buf bytes.Buffer
		if err := WriteLayer(&buf, l, f); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	is := is.New(t)
	l := Layer{Name: "img-01-top", Size: 1<<20 + 12345}
	a := gen(l, 0.5)
	is.Equal(int64(len(a)), l.Size)      // exact size, partial last block included
	is.True(bytes.Equal(a, gen(l, 0.5))) // deterministic
	v := l
	v.Variant = 1
	is.True(!bytes.Equal(a, gen(v, 0.5))) // a new variant is new content
	o := l
	o.Name = "img-02-top"
	is.True(!bytes.Equal(a, gen(o, 0.5))) // each layer its own content
	is.Equal(len(gen(Layer{Name: "x", Size: 0}, 0.5)), 0)

	tests := []struct {
		compressible float64
		min, max     float64 // gzip's compressed/original
	}{
		{0, 0.99, 1.01},
		{0.5, 0.45, 0.6},
		{0.9, 0.05, 0.2},
		{1, 0, 0.05},
	}
	for _, tt := range tests {
		r := gzipRatio(t, gen(Layer{Name: "c", Size: 2 << 20}, tt.compressible))
		t.Logf("compressible %.2f: gzip ratio %.3f", tt.compressible, r)
		is.True(r >= tt.min && r <= tt.max) // compressibility follows the setting
	}
}

func TestLayerFile(t *testing.T) {
	is := is.New(t)
	l := Layer{Name: "img-01-top", Size: 100, Variant: 1}
	is.Equal(LayerFile(l, 0.5), "img-01-top-v1-100-c0.5.bin")
	is.True(LayerFile(l, 0.25) != LayerFile(l, 0.5)) // any input of the content changes the name
	l.Size = 101
	is.True(LayerFile(l, 0.5) != "img-01-top-v1-100-c0.5.bin")
}

func TestChildEnv(t *testing.T) {
	is := is.New(t)
	environ := []string{"PATH=/bin", "HOME=/root", "BUNDLE_TAG=mine:1", "FORCE=1", "ESB_ENV=prod", "RUNTIME_BASE_PYTHON3_12=x",
		"BUILD_DIR=/elsewhere", "CACHE_DIR=/mine", "XDG_CACHE_HOME=/x", "DOCKER_HOST=unix:///d.sock", "BENCH_SIZE=1GiB", "TEMPLATE=other.yaml", "MYBRAND_OUTPUT_DIR=/o"}
	got := ChildEnv(environ, map[string]string{"BUILD_DIR": "/b", "TEMPLATE": "template.yaml"})
	is.Equal(got, []string{"PATH=/bin", "HOME=/root", "DOCKER_HOST=unix:///d.sock", "BUILD_DIR=/b", "TEMPLATE=template.yaml"})
}

func TestRunSettings(t *testing.T) {
	is := is.New(t)
	o := testOptions(3, 16<<20)
	o.BaseImage = "base:1"
	s, err := PlanStack(o)
	is.NoErr(err)
	got := s.RunSettings(o, "/b", "/c", "bench-bundle:gzip", "gzip", true)
	is.Equal(got["FORCE"], "1")
	is.Equal(got["PROJECT_NAME"], "bench")
	is.Equal(got["DIND_BASE_IMAGE"], "base:1")
	is.Equal(got["CACHE_DIR"], "/c") // the harness's own cache, not the user's
	_, forced := s.RunSettings(o, "/b", "/c", "t", "gzip", false)["FORCE"]
	is.True(!forced)
}

func TestRowsAndTargets(t *testing.T) {
	o := testOptions(3, 16<<20)
	o.Compressions = []string{"none", "gzip", "zstd"} // zstd: the default
	m := Measurements{}
	m.Set("seed.full", 100)
	m.Set("seed.save", 40)
	m.Set("seed.boot", 20)
	m.Set("seed.archive", 1000)
	m.Set("full.zstd", 80)
	m.Set("nochange", 1)
	m.Set("onechange", 30)
	m.Set("archive.none", 1000)
	m.Set("archive.zstd", 400)
	m.Fail("archive.gzip", StatusUnsupported, "unknown compression")
	m.Set("boot.zstd", 10)
	m.Set("restart.zstd", 3)
	m.Set("rss.save.zstd", 40)
	m.Set("rss.save.none", 160)
	m.Set("rss.image.zstd", 30)
	rows := Rows(o, m)
	is := is.New(t)
	is.Equal(len(rows), len(RowSpecs(o)))
	by := map[string]Row{}
	for _, r := range rows {
		by[r.ID] = r
	}
	is.Equal(by["full.zstd"].Ratio, 0.8)
	is.Equal(by["full.zstd"].Seed, 100.0)
	is.Equal(by["archive.none"].Ratio, 1.0)
	is.Equal(by["archive.gzip"].Status, StatusUnsupported)
	is.Equal(by["archive.gzip"].Ratio, 0.0)
	is.Equal(by["seed.full"].SeedID, "seed.full")
	is.Equal(by["boot.none"].Status, StatusError) // never measured
	is.True(strings.Contains(by["boot.none"].Note, "not measured"))

	status := map[string]string{}
	for _, tg := range Targets(o, rows) {
		status[tg.What] = tg.Status + " " + tg.Measured
	}
	is.Equal(status["full run vs seed-equivalent (zstd)"], "PASS 0.800×")
	is.Equal(status["nothing changed: speed-up over the seed's full run"], "PASS 100.0× faster")
	is.Equal(status["one image changed vs the seed's full run"], "PASS 0.300×")
	is.Equal(status["one image changed vs our full run (zstd)"], "PASS 0.375×")
	is.Equal(status["zstd saved images vs none"], "PASS 0.400×")
	is.Equal(status["restart vs first boot (zstd)"], "MISS 0.300×")
	is.Equal(status["restart vs first boot (none)"], "N/A missing")
	is.Equal(status["first boot vs the seed's first boot (zstd)"], "PASS 0.500×")
	is.Equal(status["peak RSS of mage save (largest over the compressions)"], "MISS 160 MB")
	is.Equal(status["peak RSS of mage image (largest over the compressions)"], "PASS 30 MB")

	rep := Report{Settings: SettingsOf(o), Engines: []EngineReport{EngineReportOf(o, "host", m)}}
	text, md := rep.Text(), rep.Markdown()
	for _, r := range rows {
		is.True(strings.Contains(text, r.What))                  // every row printed
		is.True(strings.Contains(md, strings.TrimSpace(r.What))) // and in the Markdown
	}
	is.True(strings.Contains(text, "0.800× (≤ 1.0× seed full) PASS")) // targets next to the figures
	_, err := rep.JSON()
	is.NoErr(err)
}

func TestSelectImages(t *testing.T) {
	is := is.New(t)
	list := []image.Summary{
		{ID: "a", Created: 1, RepoTags: []string{"bench-base:latest"}},
		{ID: "b", Created: 3, RepoTags: []string{"<none>:<none>"}, Labels: map[string]string{label: "bench-"}}, // left by a rebuild
		{ID: "c", Created: 2, RepoTags: []string{"bench-img-01:latest", "other:1"}},
		{ID: "d", Created: 4, RepoTags: []string{"dindbundler/dind-base:bookworm"}},
		{ID: "e", Created: 5, Labels: map[string]string{label: "bench-t1-"}}, // another prefix's
		{ID: "f", Created: 6},
	}
	is.Equal(SelectImages(list, "bench-", map[string]bool{"f": true}), []string{"f", "b", "c", "a"}) // newest first
	is.Equal(SelectImages(list, "bench-t1-", nil), []string{"e"})
}

func TestFormatBytes(t *testing.T) {
	is := is.New(t)
	is.Equal(FormatBytes(512), "512 B")
	is.Equal(FormatBytes(1<<30), "1 GiB")
	is.Equal(FormatBytes(1536<<20), "1.5 GiB")
	is.Equal(FormatBytes(16<<20), "16 MiB")
}

func TestFailureStatus(t *testing.T) {
	tests := []struct {
		c, output, want string
	}{
		{"zstd", `Error: unknown compression "zstd": use one of none, gzip`, StatusUnsupported},
		{"zstd", `Error: BUNDLE_COMPRESSION="zstd": use none, gzip or zstd`, StatusUnsupported},
		{"zstd", "save: exporting 8 images into /b/runs/zstd/layers\nError: disk full", StatusError}, // the path names zstd
		{"gzip", `Error: unknown compression "zstd"`, StatusError},
	}
	for _, tt := range tests {
		is.New(t).Equal(FailureStatus(tt.c, tt.output), tt.want)
	}
}

// The child's peak RSS must be its own: a parent holding far more memory than the child must
// not show up in the child's figure (Go's vfork folds it into the rusage Maxrss).
func TestChildRSSIsTheChilds(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("peak RSS is measured on Linux only")
	}
	is := is.New(t)
	ballast := make([]byte, 256<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	h := &harness{o: Options{BuildDir: t.TempDir()}}
	is.NoErr(os.MkdirAll(h.logsDir(), 0o755))
	_, rss, err := h.child(context.Background(), "sleep", "", nil, "sleep", "0.2")
	is.NoErr(err)
	t.Logf("child peak RSS %d bytes, parent holds %d", rss, len(ballast))
	is.True(rss > 0)      // measured
	is.True(rss < 64<<20) // not the parent's 256 MiB
	runtime.KeepAlive(ballast)
}

func TestMedianAndSample(t *testing.T) {
	is := is.New(t)
	is.Equal(Median(nil), 0.0)
	is.Equal(Median([]float64{3}), 3.0)
	is.Equal(Median([]float64{5, 1, 3}), 3.0)
	is.Equal(Median([]float64{4, 1, 3, 2}), 2.5)
	in := []float64{5, 1, 3}
	Median(in)
	is.Equal(in, []float64{5, 1, 3}) // the caller's order stays

	m := Measurements{}
	m.Fail("boot.zstd", StatusError, "first boot timed out")
	m.Sample("boot.zstd", 12)
	m.Sample("boot.zstd", 10)
	m.Sample("boot.zstd", 20)
	r := m["boot.zstd"]
	is.Equal(r.Status, StatusOK) // a later success counts
	is.Equal(r.Value, 12.0)      // the median, not the mean
	is.Equal(r.Samples, []float64{12, 10, 20})
	is.Equal(r.Note, "first boot timed out") // the failure is not forgotten
	m.Annotate("boot.zstd", "first boot timed out")
	is.Equal(m["boot.zstd"].Note, "first boot timed out") // a note is added once
	is.Equal(formatValue(Row{Status: StatusOK, Unit: UnitSeconds, Value: 12, Samples: r.Samples}), "12.00 s (10.0–20.0, n=3)")
	is.Equal(formatValue(Row{Status: StatusOK, Unit: UnitSeconds, Value: 12, Samples: []float64{12}}), "12.00 s")
}

// Engines side by side: each engine's full run, first boot and restart against the seed on the
// same engine, the goals per engine, in the text, Markdown and JSON alike.
func TestReportEnginesSideBySide(t *testing.T) {
	o := testOptions(3, 16<<20)
	o.Compressions = []string{"zstd"}
	o.Engines = []string{"host", "28-classic", "28-containerd"}
	o.Boots, o.Runs = 3, 1
	measure := func(full, seedFull float64, boots, seedBoots []float64) Measurements {
		m := Measurements{}
		m.Set("seed.full", seedFull)
		m.Set("full.zstd", full)
		for i := range boots {
			m.Sample("seed.boot", seedBoots[i])
			m.Sample("boot.zstd", boots[i])
			m.Sample("seed.restart", 4)
			m.Sample("restart.zstd", 2)
		}
		return m
	}
	engines := []EngineReport{
		EngineReportOf(o, "host", measure(40, 50, []float64{10, 11, 12}, []float64{12, 13, 14})),
		EngineReportOf(o, "28-classic", measure(45, 50, []float64{14, 15, 13}, []float64{12, 13, 14})),
		EngineReportOf(o, "28-containerd", measure(60, 50, []float64{10, 10, 10}, []float64{10, 10, 10})),
	}
	engines[0].Docker, engines[0].Store = "20.10.24", StoreClassic
	engines[1].Docker, engines[1].Store = "28.5.2", StoreClassic
	engines[2].Docker, engines[2].Store = "28.5.2", StoreContainerd
	// The third engine never got to its restarts.
	engines[2].Rows = slices.DeleteFunc(engines[2].Rows, func(r Row) bool { return r.ID == "restart.zstd" })

	sum := Summarize("zstd", engines)
	is := is.New(t)
	is.Equal(len(sum), 3)
	goals := func(s SummaryRow) string { return s.goalsCell() }
	is.Equal(sum[0].Engine, "host")
	is.Equal(sum[0].Description, "Engine 20.10.24, classic store")
	is.Equal(sum[0].Full.Ratio, 0.8)
	is.Equal(sum[0].Boot.Value, 11.0) // the median of the boots
	is.Equal(sum[0].Boot.Ratio, 11.0/13.0)
	is.Equal(goals(sum[0]), "full PASS, boot PASS")
	is.Equal(goals(sum[1]), "full PASS, boot MISS") // 14 s vs the seed's 13 s
	is.Equal(goals(sum[2]), "full MISS, boot PASS") // 1.0× is met
	is.Equal(sum[2].Restart.Status, StatusError)    // missing, and says so
	is.Equal(sum[2].Restart.Note, "not measured")

	rep := Report{Settings: SettingsOf(o), Engines: engines, Summary: sum}
	text, md := rep.Text(), rep.Markdown()
	is.True(strings.Contains(text, "engines: host, 28-classic, 28-containerd; the seed's and the zstd full runs measured 1×, their bundles booted 3× each, in turns (median, lowest–highest)"))
	lines := strings.Split(text, "\n")
	row := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Fatalf("no line starting %q in\n%s", prefix, text)
		return ""
	}
	host := strings.Fields(row("host "))
	is.Equal(strings.Join(host[:5], " "), "host Engine 20.10.24, classic store") // one line per engine
	classic := row("28-classic ")
	is.Equal(sum[1].summaryCells(), []string{"28-classic", "Engine 28.5.2, classic store",
		"50.00 s", "45.00 s", "0.90×", // full run: seed, ours, ratio
		"13.00 s (12.0–14.0, n=3)", "14.00 s (13.0–15.0, n=3)", "1.08×", // first boot, with the spread
		"4.00 s (4.0–4.0, n=3)", "2.00 s (2.0–2.0, n=3)", "0.50×",
		"full PASS, boot MISS"})
	at := 0
	for _, cell := range sum[1].summaryCells() { // the cells in order on the engine's line
		i := strings.Index(classic[at:], cell)
		is.True(i >= 0)
		at += i + len(cell)
	}
	is.True(strings.HasSuffix(classic, "full PASS, boot MISS"))
	is.True(strings.Contains(row("28-containerd "), "error")) // the missing restart
	for _, e := range engines {
		is.True(strings.Contains(text, "engine "+e.Name+": Docker Engine "+e.Docker)) // each engine's own table
		is.True(strings.Contains(md, "## engine "+e.Name+": Docker Engine "+e.Docker))
	}
	is.True(strings.Contains(md, "| 28-classic | Engine 28.5.2, classic store | 50.00 s | 45.00 s | 0.90× | 13.00 s (12.0–14.0, n=3) | 14.00 s (13.0–15.0, n=3) | 1.08× |"))
	is.True(regexp.MustCompile(`(?m)^first boot vs the seed's first boot \(zstd\) +1\.077× +≤ 1\.0× seed first boot +MISS$`).MatchString(text)) // in 28-classic's goals

	data, err := rep.JSON()
	is.NoErr(err)
	var back Report
	is.NoErr(json.Unmarshal(data, &back))
	is.Equal(len(back.Engines), 3)
	is.Equal(back.Summary[1].Boot.Samples, []float64{14, 15, 13}) // every sample kept
	is.Equal(back.Summary[2].Goals[0].Status, "MISS")
	is.Equal(back.Engines[2].Store, StoreContainerd)
}

func TestBaseManifestRead(t *testing.T) {
	is := is.New(t)
	took, ok := BaseManifestRead("image: building b:zstd\nimage: read the base image's manifest from the engine in 8.3s (once per base image)\nimage: done")
	is.True(ok)
	is.Equal(took, 8.3)
	_, ok = BaseManifestRead("image: loading the layers image: 10 of 10 layers to send")
	is.True(!ok) // a classic engine never reads it
}

func TestBootPhases(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, "2026-11-30T10:00:"+s+"Z")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Two starts of one container: the first loads the images, the restart skips that.
	log := strings.Join([]string{
		"2026-11-30T10:00:00.300Z dindbundler: starting dockerd",
		"2026-11-30T10:00:01.500Z dindbundler: dockerd ready in 1s",
		"2026-11-30T10:00:01.510Z dindbundler: loading images from /images",
		"2026-11-30T10:00:03.000Z Loaded image: bench-img-01:latest",
		"2026-11-30T10:00:03.100Z dindbundler: images verified",
		"2026-11-30T10:00:03.100Z dindbundler: starting stack bench",
		"2026-11-30T10:00:03.700Z dindbundler: stack bench is up",
		"2026-11-30T10:00:10.200Z dindbundler: starting dockerd",
		"2026-11-30T10:00:11.000Z dindbundler: dockerd ready in 0s",
		"2026-11-30T10:00:11.050Z dindbundler: starting stack bench",
		"2026-11-30T10:00:11.450Z dindbundler: stack bench is up",
		"",
	}, "\n")
	is := is.New(t)
	round := func(m map[string]float64) map[string]float64 {
		for k, v := range m {
			m[k] = math.Round(v*1000) / 1000
		}
		return m
	}
	is.Equal(round(BootPhases(log, at("00"), at("04.700"))), map[string]float64{
		"to entrypoint": 0.3, "dockerd start": 1.2, "load+verify": 1.6, "compose up": 0.6, "healthy": 1.0})
	is.Equal(round(BootPhases(log, at("10"), at("12.450"))), map[string]float64{ // only the restart's lines count
		"to entrypoint": 0.2, "dockerd start": 0.8, "load+verify": 0.05, "compose up": 0.4, "healthy": 1.0})
	// A log without the markers (an old seed entrypoint): the whole start is one phase.
	is.Equal(round(BootPhases("2026-11-30T10:00:03.000Z Loaded image: x\n", at("00"), at("05"))), map[string]float64{"healthy": 5.0})
	// Phases across boots are compared as medians.
	m := Measurements{}
	for _, v := range []float64{1.2, 1.0, 1.4} {
		m.Sample(phaseID("seed", "boot", "dockerd start"), v)
		m.Sample(phaseID("zstd", "boot", "dockerd start"), v+0.5)
	}
	m.Sample(phaseID("zstd", "boot", "load+verify"), 2)
	is.Equal(PhaseNote(m, "zstd"), []string{"first boot phases (median), seed → ours (zstd): dockerd start 1.20 → 1.70 s, load+verify – → 2.00 s"})
	is.Equal(len(PhaseNote(Measurements{}, "zstd")), 0)
}
