package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Units of a row.
const (
	UnitSeconds = "s"
	UnitBytes   = "bytes"
	UnitMB      = "MB" // 10^6 bytes
)

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
	CPUs          int    `json:"cpus"`
	MemoryBytes   int64  `json:"memory_bytes"`
	Kernel        string `json:"kernel"`
	Docker        string `json:"docker"`
	DockerAPI     string `json:"docker_api"`
	StorageDriver string `json:"storage_driver"`
	Go            string `json:"go"`
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
	Rows     []Row    `json:"rows"`
	Targets  []Target `json:"targets"`
	Notes    []string `json:"notes,omitempty"`
}

// Settings are the options as reported.
type Settings struct {
	Images             int      `json:"images"`
	SizeBytes          int64    `json:"size_bytes"`
	Compressible       float64  `json:"compressible"`
	Compressions       []string `json:"compressions"`
	DefaultCompression string   `json:"default_compression"`
	BaseImage          string   `json:"base_image"`
}

// SettingsOf reports o.
func SettingsOf(o Options) Settings {
	return Settings{Images: o.Images, SizeBytes: o.Size, Compressible: o.Compressible,
		Compressions: o.Compressions, DefaultCompression: o.DefaultCompression(), BaseImage: o.BaseImage}
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
	return specs
}

// Measurements are the raw figures by row ID; a missing ID is a row that was not measured.
type Measurements map[string]Row

// Set records a figure.
func (m Measurements) Set(id string, v float64) { m[id] = Row{ID: id, Value: v, Status: StatusOK} }

// Fail records a figure that could not be measured, with the reason.
func (m Measurements) Fail(id, status, note string) { m[id] = Row{ID: id, Status: status, Note: note} }

// Annotate adds a note to a figure.
func (m Measurements) Annotate(id, note string) {
	r := m[id]
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
		if s.SeedID == "" {
			r.SeedID = s.ID
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
	goalNoChangeFaster = 50.0 // nothing changed ≥ 50× faster than the seed's full run
	goalOneChangeRatio = 0.5  // one image changed ≤ 0.5× the seed's full run
	goalZstdRatio      = 0.5  // zstd archive ≤ 0.5× the uncompressed one
	goalRestartRatio   = 0.2  // restart ≤ 0.2× first boot
	goalRSSMB          = 150.0
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

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// formatValue renders a row's value in its unit.
func formatValue(r Row) string {
	if r.Status != StatusOK {
		return r.Status
	}
	switch r.Unit {
	case UnitSeconds:
		return fmt.Sprintf("%.2f s", r.Value)
	case UnitBytes:
		return fmt.Sprintf("%s (%.0f)", FormatBytes(int64(r.Value)), r.Value)
	case UnitMB:
		return fmt.Sprintf("%.1f MB", r.Value)
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

// machineLine is the one-line description of the machine.
func (rep Report) machineLine() string {
	m := rep.Machine
	return fmt.Sprintf("%d CPUs, %s memory, kernel %s, Docker Engine %s (API %s), storage driver %s, %s, load average %s",
		m.CPUs, FormatBytes(m.MemoryBytes), m.Kernel, m.Docker, m.DockerAPI, m.StorageDriver, m.Go, m.Load)
}

func (rep Report) header() []string {
	s := rep.Settings
	lines := []string{
		fmt.Sprintf("dindbundler benchmark, %s → %s", rep.Started.Format(time.RFC3339), rep.Finished.Format(time.RFC3339)),
		"machine: " + rep.machineLine(),
		fmt.Sprintf("stack: %d images, %s of layers (%.0f%% compressible), compressions %s (unchanged/one-changed runs: %s), base %s",
			s.Images, FormatBytes(s.SizeBytes), s.Compressible*100, strings.Join(s.Compressions, ","), s.DefaultCompression, s.BaseImage),
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

// Text renders the report for a terminal.
func (rep Report) Text() string {
	var b strings.Builder
	for _, l := range rep.header() {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	goals := rep.goalsByRow()
	fmt.Fprintln(tw, "what\tvalue\tseed-equivalent\tratio\ttarget\tnote")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.What, formatValue(r), formatSeed(r), formatRatio(r), goals[r.ID], r.Note)
	}
	tw.Flush()
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tmeasured\tgoal\t")
	for _, t := range rep.Targets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.What, t.Measured, t.Goal, t.Status)
	}
	tw.Flush()
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
	goals := rep.goalsByRow()
	b.WriteString("\n| what | value | seed-equivalent | ratio | target | note |\n|---|---:|---:|---:|---|---|\n")
	for _, r := range rep.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mdEscape(strings.TrimSpace(r.What)), formatValue(r), formatSeed(r), formatRatio(r), goals[r.ID], mdEscape(r.Note))
	}
	b.WriteString("\n| target | measured | goal | |\n|---|---:|---:|---|\n")
	for _, t := range rep.Targets {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdEscape(t.What), t.Measured, t.Goal, t.Status)
	}
	if len(rep.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range rep.Notes {
			b.WriteString("- " + mdEscape(n) + "\n")
		}
	}
	return b.String()
}

// goalsByRow is each row's goals in short: "0.631× (≤ 1.0× seed full) PASS".
func (rep Report) goalsByRow() map[string]string {
	goals := map[string]string{}
	for _, t := range rep.Targets {
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
