package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Units of a row.
const (
	UnitSeconds = "s"
	UnitBytes   = "bytes"
	UnitMB      = "MB" // 10^6 bytes
	UnitCount   = "count"
)

// NoSeed as a RowSpec's SeedID: the row is compared with nothing.
const NoSeed = "-"

// Row statuses other than StatusOK carry no value.
const (
	StatusOK          = "ok"
	StatusUnsupported = "unsupported"
	StatusError       = "error"
)

// Row is one figure of the report.
type Row struct {
	ID     string  `json:"id"`
	What   string  `json:"what"`
	Unit   string  `json:"unit"`
	Value  float64 `json:"value"`
	Status string  `json:"status"`
	// SeedID names the seed-equivalent figure this one is compared with; Seed is its value and
	// Ratio = Value/Seed (0 when either is missing).
	SeedID string  `json:"seed_id,omitempty"`
	Seed   float64 `json:"seed,omitempty"`
	Ratio  float64 `json:"ratio,omitempty"`
	Note   string  `json:"note,omitempty"`
	// Samples are the single measurements when a figure was taken more than once (boots,
	// BENCH_BOOTS); Value is then their median.
	Samples []float64 `json:"samples,omitempty"`
}

// Target is one goal checked against the figures.
type Target struct {
	RowID    string `json:"row_id"` // the row the goal is about
	What     string `json:"what"`
	Measured string `json:"measured"`
	Goal     string `json:"goal"`
	Status   string `json:"status"` // PASS, MISS, or N/A when a figure is missing
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUs        int    `json:"cpus"`
	MemoryBytes int64  `json:"memory_bytes"`
	Kernel      string `json:"kernel"`
	Go          string `json:"go"`
	// Load is the 1-minute load average at the start and the end of the run: the machine may
	// be shared, and other work skews wall-clock figures.
	Load string `json:"load,omitempty"`
}

// Report is the whole result, as written to results.json.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Commit is the repository's HEAD and Dirty its uncommitted files, when git can tell:
	// the figures measure the working tree as it was during the run.
	Commit   string   `json:"commit,omitempty"`
	Dirty    []string `json:"dirty,omitempty"`
	Machine  Machine  `json:"machine"`
	Settings Settings `json:"settings"`
	// Engines are the figures of each outer engine, in BENCH_ENGINES order: the seed and the
	// pipeline measured on the same engine.
	Engines []EngineReport `json:"engines"`
	// Summary sets the engines side by side: full run, first boot and restart against the seed.
	Summary []SummaryRow `json:"summary"`
	Notes   []string     `json:"notes,omitempty"`
}

// EngineReport is one engine's whole measurement.
type EngineReport struct {
	Name          string `json:"name"` // as BENCH_ENGINES names it: host, 28-classic, …
	Docker        string `json:"docker"`
	DockerAPI     string `json:"docker_api"`
	StorageDriver string `json:"storage_driver"`
	Store         string `json:"store"` // image store: StoreClassic or StoreContainerd
	// Load is the 1-minute load average when this engine's measurement started and ended.
	Load    string   `json:"load,omitempty"`
	Rows    []Row    `json:"rows"`
	Targets []Target `json:"targets"`
	Notes   []string `json:"notes,omitempty"`
}

// Image stores of an engine.
const (
	StoreClassic    = "classic"
	StoreContainerd = "containerd"
)

// Settings are the options as reported.
type Settings struct {
	Images             int      `json:"images"`
	SizeBytes          int64    `json:"size_bytes"`
	Compressible       float64  `json:"compressible"`
	Compressions       []string `json:"compressions"`
	DefaultCompression string   `json:"default_compression"`
	BaseImage          string   `json:"base_image"`
	Engines            []string `json:"engines"`
	Runs               int      `json:"runs"`
	Boots              int      `json:"boots"`
	Functions          int      `json:"functions"`
	FunctionSizes      []int64  `json:"function_sizes,omitempty"`
	FunctionOwn        int64    `json:"function_own,omitempty"`
}

// SettingsOf reports o.
func SettingsOf(o Options) Settings {
	return Settings{Images: o.Images, SizeBytes: o.Size, Compressible: o.Compressible,
		Compressions: o.Compressions, DefaultCompression: o.DefaultCompression(), BaseImage: o.BaseImage,
		Engines: o.Engines, Runs: o.Runs, Boots: o.Boots, Functions: o.Functions, FunctionSizes: o.FunctionSizes, FunctionOwn: o.FunctionOwn}
}

// EngineReportOf assembles one engine's figures: rows in table order and the goals.
func EngineReportOf(o Options, name string, m Measurements) EngineReport {
	rows := Rows(o, m)
	return EngineReport{Name: name, Rows: rows, Targets: Targets(o, rows)}
}

// RowSpec is a row's fixed description; SeedID names the seed-equivalent figure it is compared
// with ("" for the seed's own rows).
type RowSpec struct {
	ID, What, Unit, SeedID string
}

// RowSpecs lists every row a complete run of o reports, in table order.
func RowSpecs(o Options) []RowSpec {
	specs := []RowSpec{
		{"seed.full", "seed-equivalent full run (rm -rf, docker save, cp, docker build --no-cache)", UnitSeconds, ""},
		{"seed.save", "  seed: docker save -o images.tar", UnitSeconds, ""},
		{"seed.build", "  seed: DOCKER_BUILDKIT=0 docker build", UnitSeconds, ""},
		{"seed.archive", "seed archive images.tar", UnitBytes, ""},
		{"seed.image", "seed bundle image", UnitBytes, ""},
		{"seed.boot", "seed first boot (start → stack healthy)", UnitSeconds, ""},
		{"seed.restart", "seed restart (same volume → stack healthy)", UnitSeconds, ""},
		{"seed.rss.save", "peak RSS of docker save (CLI)", UnitMB, ""},
		{"seed.rss.build", "peak RSS of docker build (CLI)", UnitMB, ""},
	}
	d := o.DefaultCompression()
	for _, c := range o.RunOrder() {
		specs = append(specs,
			RowSpec{"full." + c, fmt.Sprintf("mage bundle full run from scratch, %s", c), UnitSeconds, "seed.full"},
			RowSpec{"save." + c, fmt.Sprintf("  FORCE=1 mage save (Certs…Save), %s", c), UnitSeconds, "seed.save"},
			RowSpec{"image." + c, fmt.Sprintf("  mage image, %s", c), UnitSeconds, "seed.build"},
			RowSpec{"archive." + c, fmt.Sprintf("saved images on disk (BUILD_DIR), %s", c), UnitBytes, "seed.archive"},
			RowSpec{"imagesize." + c, fmt.Sprintf("bundle image, %s", c), UnitBytes, "seed.image"},
			RowSpec{"boot." + c, fmt.Sprintf("first boot, %s", c), UnitSeconds, "seed.boot"},
			RowSpec{"restart." + c, fmt.Sprintf("restart, %s", c), UnitSeconds, "seed.restart"},
			RowSpec{"rss.save." + c, fmt.Sprintf("peak RSS of mage save, %s", c), UnitMB, "seed.rss.save"},
			RowSpec{"rss.image." + c, fmt.Sprintf("peak RSS of mage image, %s", c), UnitMB, "seed.rss.build"},
		)
		if c == d {
			specs = append(specs,
				RowSpec{"nochange", fmt.Sprintf("mage bundle again, nothing changed, %s", c), UnitSeconds, "seed.full"},
				RowSpec{"onechange", fmt.Sprintf("mage bundle after one image changed, %s", c), UnitSeconds, "seed.full"},
				RowSpec{"rss.nochange", "peak RSS of mage bundle, nothing changed", UnitMB, "seed.rss.save"},
				RowSpec{"rss.onechange", "peak RSS of mage bundle, one image changed", UnitMB, "seed.rss.save"},
			)
		}
	}
	return append(specs, FunctionRowSpecs(o)...)
}

// FunctionRowSpecs are the rows of the bundles with function images (functions.go), (a) the
// baseline of the boots.
func FunctionRowSpecs(o Options) []RowSpec {
	var specs []RowSpec
	if o.Functions > 0 {
		stack := fmt.Sprintf("%d services + %d functions", o.Images, o.Functions)
		specs = append(specs,
			RowSpec{"fn.boot.seed", "(a) first boot, " + stack + ", everything in before the stack (FUNCTIONS_PRELOAD=boot: the seed's way)", UnitSeconds, ""},
			RowSpec{"fn.boot.ours", "(b) first boot, " + stack + ", ours (FUNCTIONS_PRELOAD=background)", UnitSeconds, "fn.boot.seed"},
			RowSpec{"fn.boot.none", fmt.Sprintf("(c) first boot, the same %d services without functions", o.Images), UnitSeconds, "fn.boot.seed"},
			RowSpec{"fn.boot.upstream", "(d) first boot, " + stack + ", upstream's way: all in, then docker push of every function image", UnitSeconds, "fn.boot.seed"},
			RowSpec{"fn.ready.upstream", "  (d): stack healthy", UnitSeconds, "fn.boot.seed"},
			RowSpec{"fn.push.upstream", fmt.Sprintf("  (d): stand-in registry start + docker push of %d images", o.Functions), UnitSeconds, NoSeed},
			RowSpec{"fn.preload.ours", fmt.Sprintf("(b) background preload done (start → %d images pulled)", o.Functions), UnitSeconds, "fn.boot.seed"},
			RowSpec{"fn.restart.ours", "(b) restart (same volume → stack healthy)", UnitSeconds, NoSeed},
			RowSpec{"fn.restart.registry", "  (b) restart: registry ready after dockerd ready", UnitSeconds, NoSeed},
			RowSpec{"fn.restart.moved", "  (b) restart: function images moved again (loaded or pulled)", UnitCount, NoSeed},
		)
	}
	for _, n := range o.FunctionSizes {
		ids, size := FirstCallRowIDs(n), FormatBytes(n)
		specs = append(specs,
			RowSpec{ids[0], "first call of a " + size + " function image not pulled yet (docker pull + docker run --rm)", UnitSeconds, NoSeed},
			RowSpec{ids[1], "  bytes it pulled", UnitBytes, NoSeed},
			RowSpec{ids[2], "first call of a second " + size + " function sharing its base layers", UnitSeconds, ids[0]},
			RowSpec{ids[3], "  bytes it pulled (own layers only)", UnitBytes, ids[1]},
		)
	}
	return specs
}

// Measurements are the raw figures by row ID; a missing ID is a row that was not measured.
type Measurements map[string]Row

// Set records a figure.
func (m Measurements) Set(id string, v float64) { m[id] = Row{ID: id, Value: v, Status: StatusOK} }

// Sample records one more measurement of a figure taken several times: the figure is the
// median of its samples so far.
func (m Measurements) Sample(id string, v float64) {
	r := m[id]
	if r.Status != StatusOK {
		r = Row{ID: id, Status: StatusOK, Note: r.Note}
	}
	r.Samples = append(r.Samples, v)
	r.Value = Median(r.Samples)
	m[id] = r
}

// Median is the middle of values (the mean of the two middle ones for an even count); 0 for
// none.
func Median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	s := slices.Clone(values)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Fail records a figure that could not be measured, with the reason.
func (m Measurements) Fail(id, status, note string) { m[id] = Row{ID: id, Status: status, Note: note} }

// Annotate adds a note to a figure, once.
func (m Measurements) Annotate(id, note string) {
	r := m[id]
	if strings.Contains(r.Note, note) {
		return
	}
	if r.Note != "" {
		note = r.Note + "; " + note
	}
	r.Note = note
	m[id] = r
}

// Rows builds the table: every row of RowSpecs(o) in order, with its seed comparison. A row
// never measured (the run stopped early) has status "error" and says so.
func Rows(o Options, m Measurements) []Row {
	specs := RowSpecs(o)
	rows := make([]Row, 0, len(specs))
	for _, s := range specs {
		r, ok := m[s.ID]
		if !ok {
			r = Row{Status: StatusError, Note: "not measured: the run stopped before it"}
		}
		r.ID, r.What, r.Unit, r.SeedID = s.ID, s.What, s.Unit, s.SeedID
		switch s.SeedID {
		case "":
			r.SeedID = s.ID
		case NoSeed:
			r.SeedID = ""
		}
		if seed, ok := m[r.SeedID]; ok && seed.Status == StatusOK && r.Status == StatusOK && seed.Value > 0 {
			r.Seed, r.Ratio = seed.Value, r.Value/seed.Value
		}
		rows = append(rows, r)
	}
	return rows
}

// Goals of the pipeline, checked by Targets.
const (
	goalFullRatio      = 1.0  // full run ≤ 1.0× the seed's
	goalBootRatio      = 1.0  // first boot ≤ 1.0× the seed bundle's
	goalNoChangeFaster = 50.0 // nothing changed ≥ 50× faster than the seed's full run
	goalOneChangeRatio = 0.5  // one image changed ≤ 0.5× the seed's full run
	goalZstdRatio      = 0.5  // zstd archive ≤ 0.5× the uncompressed one
	goalRestartRatio   = 0.2  // restart ≤ 0.2× first boot
	goalRSSMB          = 150.0
	// With function images: ours ≤ 0.3× the seed's way, within 1.2× of no functions; the
	// registry ready ≤ 1 s after dockerd on a restart, which moves no image again; a second
	// function pulls its own layers only (plus manifest and config).
	goalFnBootRatio      = 0.3
	goalFnNoneRatio      = 1.2
	goalRegistryRestart  = 1.0
	goalOwnLayerOverhead = 64 << 10
)

// Targets checks the goals against rows (as Rows returns them).
func Targets(o Options, rows []Row) []Target {
	by := map[string]Row{}
	for _, r := range rows {
		by[r.ID] = r
	}
	val := func(id string) (float64, bool) {
		r, ok := by[id]
		return r.Value, ok && r.Status == StatusOK && r.Value > 0
	}
	check := func(rowID, what, goal string, measured func() (string, bool, bool)) Target {
		t := Target{RowID: rowID, What: what, Goal: goal, Status: "N/A", Measured: "missing"}
		if m, pass, ok := measured(); ok {
			t.Measured, t.Status = m, "MISS"
			if pass {
				t.Status = "PASS"
			}
		}
		return t
	}
	ratio := func(a, b string) (float64, bool) {
		x, ok1 := val(a)
		y, ok2 := val(b)
		return x / y, ok1 && ok2
	}
	d := o.DefaultCompression()
	var ts []Target
	ts = append(ts, check("full."+d, "full run vs seed-equivalent ("+d+")", fmt.Sprintf("≤ %.1f× seed full", goalFullRatio), func() (string, bool, bool) {
		r, ok := ratio("full."+d, "seed.full")
		return fmt.Sprintf("%.3f×", r), r <= goalFullRatio, ok
	}))
	ts = append(ts, check("nochange", "nothing changed: speed-up over the seed's full run", fmt.Sprintf("≥ %.0f× faster than seed full", goalNoChangeFaster), func() (string, bool, bool) {
		r, ok := ratio("seed.full", "nochange")
		return fmt.Sprintf("%.1f× faster", r), r >= goalNoChangeFaster, ok
	}))
	ts = append(ts, check("onechange", "one image changed vs the seed's full run", fmt.Sprintf("≤ %.1f× seed full", goalOneChangeRatio), func() (string, bool, bool) {
		r, ok := ratio("onechange", "seed.full")
		return fmt.Sprintf("%.3f×", r), r <= goalOneChangeRatio, ok
	}))
	ts = append(ts, check("onechange", "one image changed vs our full run ("+d+")", fmt.Sprintf("≤ %.1f× our full", goalOneChangeRatio), func() (string, bool, bool) {
		r, ok := ratio("onechange", "full."+d)
		return fmt.Sprintf("%.3f×", r), r <= goalOneChangeRatio, ok
	}))
	ts = append(ts, check("boot."+d, "first boot vs the seed's first boot ("+d+")", fmt.Sprintf("≤ %.1f× seed first boot", goalBootRatio), func() (string, bool, bool) {
		r, ok := ratio("boot."+d, "seed.boot")
		return fmt.Sprintf("%.3f×", r), r <= goalBootRatio, ok
	}))
	if has(o.Compressions, "zstd") && has(o.Compressions, "none") {
		ts = append(ts, check("archive.zstd", "zstd saved images vs none", fmt.Sprintf("≤ %.1f× none", goalZstdRatio), func() (string, bool, bool) {
			if r := by["archive.zstd"]; r.Status != StatusOK {
				return r.Status, false, true
			}
			r, ok := ratio("archive.zstd", "archive.none")
			return fmt.Sprintf("%.3f×", r), r <= goalZstdRatio, ok
		}))
	}
	for _, c := range o.RunOrder() {
		ts = append(ts, check("restart."+c, "restart vs first boot ("+c+")", fmt.Sprintf("≤ %.1f× first boot", goalRestartRatio), func() (string, bool, bool) {
			r, ok := ratio("restart."+c, "boot."+c)
			return fmt.Sprintf("%.3f×", r), r <= goalRestartRatio, ok
		}))
	}
	ts = append(ts, functionTargets(o, by, check, ratio)...)
	for _, stage := range []string{"save", "image"} {
		ts = append(ts, check("rss."+stage+"."+d, "peak RSS of mage "+stage+" (largest over the compressions)", fmt.Sprintf("< %.0f MB", goalRSSMB), func() (string, bool, bool) {
			peak, any := 0.0, false
			for _, c := range o.Compressions {
				if v, ok := val("rss." + stage + "." + c); ok {
					peak, any = math.Max(peak, v), true
				}
			}
			return fmt.Sprintf("%.0f MB", peak), peak < goalRSSMB, any
		}))
	}
	return ts
}

// functionTargets are the goals of the function rows (FunctionRowSpecs).
func functionTargets(o Options, by map[string]Row, check func(rowID, what, goal string, measured func() (string, bool, bool)) Target, ratio func(a, b string) (float64, bool)) []Target {
	var ts []Target
	ok := func(id string) (float64, bool) { r, found := by[id]; return r.Value, found && r.Status == StatusOK }
	if o.Functions > 0 {
		ts = append(ts, check("fn.boot.ours", "first boot with functions: ours (b) vs the seed's way (a)", fmt.Sprintf("≤ %.1f× (a)", goalFnBootRatio), func() (string, bool, bool) {
			r, ok := ratio("fn.boot.ours", "fn.boot.seed")
			return fmt.Sprintf("%.3f×", r), r <= goalFnBootRatio, ok
		}))
		ts = append(ts, check("fn.boot.ours", "first boot with functions: ours (b) vs no functions (c)", fmt.Sprintf("≤ %.1f× (c)", goalFnNoneRatio), func() (string, bool, bool) {
			r, ok := ratio("fn.boot.ours", "fn.boot.none")
			return fmt.Sprintf("%.3f×", r), r <= goalFnNoneRatio, ok
		}))
		ts = append(ts, check("fn.restart.registry", "restart: registry ready after dockerd ready", fmt.Sprintf("≤ %.1f s", goalRegistryRestart), func() (string, bool, bool) {
			v, found := ok("fn.restart.registry")
			return fmt.Sprintf("%.2f s", v), v <= goalRegistryRestart, found
		}))
		ts = append(ts, check("fn.restart.moved", "restart: function images moved again", "0", func() (string, bool, bool) {
			v, found := ok("fn.restart.moved")
			return fmt.Sprintf("%.0f", v), v == 0, found
		}))
	}
	for _, n := range o.FunctionSizes {
		id, own := FirstCallRowIDs(n)[3], FunctionOwnOf(n)
		ts = append(ts, check(id, "second "+FormatBytes(n)+" function: bytes pulled", fmt.Sprintf("≤ own layer %s + %s", FormatBytes(own), FormatBytes(goalOwnLayerOverhead)), func() (string, bool, bool) {
			v, found := ok(id)
			return FormatBytes(int64(v)), v <= float64(own+goalOwnLayerOverhead), found
		}))
	}
	return ts
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// SummaryRow is one engine side by side with the seed on the same engine: the pipeline's full
// run, first boot and restart (default compression) with their seed-equivalent figures and
// ratios (Row.Seed, Row.Ratio), and the goals on them.
type SummaryRow struct {
	Engine      string   `json:"engine"`
	Description string   `json:"description"` // "Engine 28.5.2, containerd store"
	Full        Row      `json:"full"`
	Boot        Row      `json:"boot"`
	Restart     Row      `json:"restart"`
	SeedFull    Row      `json:"seed_full"`
	SeedBoot    Row      `json:"seed_boot"`
	SeedRestart Row      `json:"seed_restart"`
	Goals       []Target `json:"goals"` // full run and first boot against the seed
}

// Summarize sets the engines side by side for compression d (the default one).
func Summarize(d string, engines []EngineReport) []SummaryRow {
	out := make([]SummaryRow, 0, len(engines))
	for _, e := range engines {
		by := map[string]Row{}
		for _, r := range e.Rows {
			by[r.ID] = r
		}
		row := func(id string) Row {
			if r, ok := by[id]; ok {
				return r
			}
			return Row{ID: id, Status: StatusError, Note: "not measured"}
		}
		s := SummaryRow{Engine: e.Name, Description: e.describe(),
			Full: row("full." + d), Boot: row("boot." + d), Restart: row("restart." + d),
			SeedFull: row("seed.full"), SeedBoot: row("seed.boot"), SeedRestart: row("seed.restart")}
		for _, t := range e.Targets {
			if t.RowID == "full."+d && strings.HasPrefix(t.What, "full run") || t.RowID == "boot."+d && strings.HasPrefix(t.What, "first boot") {
				s.Goals = append(s.Goals, t)
			}
		}
		out = append(out, s)
	}
	return out
}

// describe is the engine in a few words: version and image store.
func (e EngineReport) describe() string {
	v := e.Docker
	if v == "" {
		v = "?"
	}
	store := e.Store
	if store == "" {
		store = "?"
	}
	return fmt.Sprintf("Engine %s, %s store", v, store)
}

// formatValue renders a row's value in its unit; a figure taken several times shows its
// spread (lowest–highest) and count after the median.
func formatValue(r Row) string {
	if r.Status != StatusOK {
		return r.Status
	}
	switch r.Unit {
	case UnitSeconds:
		if len(r.Samples) > 1 {
			return fmt.Sprintf("%.2f s (%.1f–%.1f, n=%d)", r.Value, slices.Min(r.Samples), slices.Max(r.Samples), len(r.Samples))
		}
		return fmt.Sprintf("%.2f s", r.Value)
	case UnitBytes:
		return fmt.Sprintf("%s (%.0f)", FormatBytes(int64(r.Value)), r.Value)
	case UnitMB:
		return fmt.Sprintf("%.1f MB", r.Value)
	case UnitCount:
		return fmt.Sprintf("%.0f", r.Value)
	}
	return fmt.Sprint(r.Value)
}

func formatSeed(r Row) string {
	if r.SeedID == r.ID || r.Ratio == 0 {
		return ""
	}
	return formatValue(Row{Value: r.Seed, Unit: r.Unit, Status: StatusOK})
}

func formatRatio(r Row) string {
	switch {
	case r.SeedID == r.ID && r.Status == StatusOK:
		return "1.00×"
	case r.Ratio == 0:
		return "—"
	case r.Ratio < 0.01:
		return fmt.Sprintf("%.4f×", r.Ratio)
	default:
		return fmt.Sprintf("%.2f×", r.Ratio)
	}
}

// formatSeconds is a summary cell: the figure in seconds, with the spread of repeated ones.
func formatSeconds(r Row) string {
	r.Unit = UnitSeconds
	return formatValue(r)
}

// goalsCell is a summary row's goals in short: "full PASS, boot MISS".
func (s SummaryRow) goalsCell() string {
	var parts []string
	for _, g := range s.Goals {
		what := "full"
		if strings.HasPrefix(g.What, "first boot") {
			what = "boot"
		}
		parts = append(parts, what+" "+g.Status)
	}
	return strings.Join(parts, ", ")
}

// summaryCells are a summary row's cells in table order (summaryHeader).
func (s SummaryRow) summaryCells() []string {
	return []string{s.Engine, s.Description,
		formatSeconds(s.SeedFull), formatSeconds(s.Full), formatRatio(s.Full),
		formatSeconds(s.SeedBoot), formatSeconds(s.Boot), formatRatio(s.Boot),
		formatSeconds(s.SeedRestart), formatSeconds(s.Restart), formatRatio(s.Restart),
		s.goalsCell()}
}

var summaryHeader = []string{"engine", "version, image store", "full: seed", "ours", "ratio", "first boot: seed", "ours", "ratio", "restart: seed", "ours", "ratio", "goals (≤ 1.0× seed)"}

// machineLine is the one-line description of the machine.
func (rep Report) machineLine() string {
	m := rep.Machine
	return fmt.Sprintf("%d CPUs, %s memory, kernel %s, %s, load average %s", m.CPUs, FormatBytes(m.MemoryBytes), m.Kernel, m.Go, m.Load)
}

// engineLine is the heading of one engine's figures.
func (e EngineReport) engineLine() string {
	return fmt.Sprintf("engine %s: Docker Engine %s (API %s), storage driver %s, %s image store, load average %s",
		e.Name, e.Docker, e.DockerAPI, e.StorageDriver, e.Store, e.Load)
}

func (rep Report) header() []string {
	s := rep.Settings
	lines := []string{
		fmt.Sprintf("dindbundler benchmark, %s → %s", rep.Started.Format(time.RFC3339), rep.Finished.Format(time.RFC3339)),
		"machine: " + rep.machineLine(),
		fmt.Sprintf("stack: %d images, %s of layers (%.0f%% compressible), compressions %s (unchanged/one-changed runs: %s), base %s",
			s.Images, FormatBytes(s.SizeBytes), s.Compressible*100, strings.Join(s.Compressions, ","), s.DefaultCompression, s.BaseImage),
		fmt.Sprintf("engines: %s; the seed's and the %s full runs measured %d×, their bundles booted %d× each, in turns (median, lowest–highest)", strings.Join(s.Engines, ", "), s.DefaultCompression, s.Runs, s.Boots),
	}
	if s.Functions > 0 || len(s.FunctionSizes) > 0 {
		sizes := make([]string, 0, len(s.FunctionSizes))
		for _, n := range s.FunctionSizes {
			sizes = append(sizes, FormatBytes(n))
		}
		if len(sizes) == 0 {
			sizes = []string{"none"}
		}
		lines = append(lines, fmt.Sprintf("functions: %d function images (a shared %s base + %s each), booted (a)–(d) %d× each in turns; first calls of %s function images",
			s.Functions, FormatBytes(FunctionBaseSize), FormatBytes(s.FunctionOwn), s.Boots, strings.Join(sizes, ", ")))
	}
	if rep.Commit != "" {
		c := "code: " + rep.Commit
		if len(rep.Dirty) > 0 {
			c += fmt.Sprintf(" + %d uncommitted files (%s)", len(rep.Dirty), strings.Join(rep.Dirty, " "))
		}
		lines = append(lines, c)
	}
	return lines
}

// Text renders the report for a terminal: the engines side by side, then each engine's table.
func (rep Report) Text() string {
	var b strings.Builder
	for _, l := range rep.header() {
		b.WriteString(l + "\n")
	}
	fmt.Fprintf(&b, "\nengines side by side (%s; seed = docker save + docker build on the same engine):\n", rep.Settings.DefaultCompression)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(summaryHeader, "\t"))
	for _, s := range rep.Summary {
		fmt.Fprintln(tw, strings.Join(s.summaryCells(), "\t"))
	}
	tw.Flush()
	for _, e := range rep.Engines {
		b.WriteString("\n" + e.engineLine() + "\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		goals := goalsByRow(e.Targets)
		fmt.Fprintln(tw, "what\tvalue\tseed-equivalent\tratio\ttarget\tnote")
		for _, r := range e.Rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.What, formatValue(r), formatSeed(r), formatRatio(r), goals[r.ID], r.Note)
		}
		tw.Flush()
		b.WriteString("\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "target\tmeasured\tgoal\t")
		for _, t := range e.Targets {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.What, t.Measured, t.Goal, t.Status)
		}
		tw.Flush()
		for _, n := range e.Notes {
			b.WriteString("note (" + e.Name + "): " + n + "\n")
		}
	}
	b.WriteString("\n")
	for _, n := range rep.Notes {
		b.WriteString("note: " + n + "\n")
	}
	return b.String()
}

// Markdown renders the report as a Markdown document.
func (rep Report) Markdown() string {
	var b strings.Builder
	b.WriteString("# dindbundler benchmark\n\n")
	for _, l := range rep.header() {
		b.WriteString("- " + mdEscape(l) + "\n")
	}
	fmt.Fprintf(&b, "\n## Engines side by side (%s; seed = docker save + docker build on the same engine)\n\n", rep.Settings.DefaultCompression)
	b.WriteString("| " + strings.Join(summaryHeader, " | ") + " |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, s := range rep.Summary {
		cells := s.summaryCells()
		for i := range cells {
			cells[i] = mdEscape(cells[i])
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	for _, e := range rep.Engines {
		b.WriteString("\n## " + mdEscape(e.engineLine()) + "\n")
		goals := goalsByRow(e.Targets)
		b.WriteString("\n| what | value | seed-equivalent | ratio | target | note |\n|---|---:|---:|---:|---|---|\n")
		for _, r := range e.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mdEscape(strings.TrimSpace(r.What)), formatValue(r), formatSeed(r), formatRatio(r), goals[r.ID], mdEscape(r.Note))
		}
		b.WriteString("\n| target | measured | goal | |\n|---|---:|---:|---|\n")
		for _, t := range e.Targets {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdEscape(t.What), t.Measured, t.Goal, t.Status)
		}
		if len(e.Notes) > 0 {
			b.WriteString("\n")
			for _, n := range e.Notes {
				b.WriteString("- " + mdEscape(n) + "\n")
			}
		}
	}
	if len(rep.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range rep.Notes {
			b.WriteString("- " + mdEscape(n) + "\n")
		}
	}
	return b.String()
}

// goalsByRow is each row's goals in short: "0.631× (≤ 1.0× seed full) PASS".
func goalsByRow(targets []Target) map[string]string {
	goals := map[string]string{}
	for _, t := range targets {
		g := fmt.Sprintf("%s (%s) %s", t.Measured, t.Goal, t.Status)
		if goals[t.RowID] != "" {
			g = goals[t.RowID] + "; " + g
		}
		goals[t.RowID] = g
	}
	return goals
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// JSON renders the report as indented JSON.
func (rep Report) JSON() ([]byte, error) {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the benchmark report: %w", err)
	}
	return append(data, '\n'), nil
}
