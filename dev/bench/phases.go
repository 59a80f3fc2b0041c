package bench

import (
	"fmt"
	"strings"
	"time"
)

// Boot phases: where a boot's time goes, read from the container's timestamped log. Both
// entrypoints (dind/entrypoint.sh and the seed's) log the same marker lines; the registry's
// only ours, when the bundle serves images.
var phases = []struct {
	Name   string
	Marker string // the line that ends the phase; "" for the last one (the stack healthy)
}{
	{"to entrypoint", "dindbundler: starting dockerd"},
	{"dockerd start", "dindbundler: dockerd ready"},
	// Only bundles that serve images (dind/registry.sh); elsewhere its time stays in the next.
	{"registry start", "dindbundler: registry ready"},
	{"load+verify", "dindbundler: starting stack"},
	{"compose up", " is up"},
	{"healthy", ""},
}

// PhaseNames are the phases in order.
func PhaseNames() []string {
	names := make([]string, len(phases))
	for i, p := range phases {
		names[i] = p.Name
	}
	return names
}

// BootPhases splits one start of a container, from started until ready (the stack healthy),
// into the phases, reading the marker lines of timedLog (`docker logs -t`: an RFC 3339
// timestamp, a blank, the line) written at or after started. A phase whose marker is missing
// is left out, and its time goes to the next phase found.
func BootPhases(timedLog string, started, ready time.Time) map[string]float64 {
	out := map[string]float64{}
	last := started
	lines := strings.Split(timedLog, "\n")
	i := 0
	for _, p := range phases {
		if p.Marker == "" {
			if !ready.Before(last) {
				out[p.Name] = ready.Sub(last).Seconds()
			}
			break
		}
		for j := i; j < len(lines); j++ {
			stamp, text, ok := strings.Cut(lines[j], " ")
			if !ok || !strings.Contains(text, p.Marker) {
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, stamp)
			if err != nil || t.Before(started) || t.After(ready) {
				continue
			}
			out[p.Name] = t.Sub(last).Seconds()
			last, i = t, j+1
			break
		}
	}
	return out
}

// phaseID is the measurement ID of phase of who's ("seed" or a compression) first boot or
// restart.
func phaseID(who, start, phase string) string { return "phase." + who + "." + start + "." + phase }

// PhaseNote compares the phases of the seed's and ours (compression d) first boots and
// restarts as measured in m (medians): "first boot, seed → ours: dockerd start 1.20 → 1.30 s, …".
// Empty when neither was measured.
func PhaseNote(m Measurements, d string) []string {
	var notes []string
	for _, start := range []string{"boot", "restart"} {
		var parts []string
		for _, p := range PhaseNames() {
			seed, ours := m[phaseID("seed", start, p)], m[phaseID(d, start, p)]
			if seed.Status != StatusOK && ours.Status != StatusOK {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %s → %s s", p, phaseValue(seed), phaseValue(ours)))
		}
		if len(parts) > 0 {
			what := map[string]string{"boot": "first boot", "restart": "restart"}[start]
			notes = append(notes, fmt.Sprintf("%s phases (median), seed → ours (%s): %s", what, d, strings.Join(parts, ", ")))
		}
	}
	return notes
}

func phaseValue(r Row) string {
	if r.Status != StatusOK {
		return "–"
	}
	return fmt.Sprintf("%.2f", r.Value)
}

// FunctionPhaseNote compares the first boots with functions, (a) the seed's way → (b) ours →
// (c) no functions → (d) upstream's (its stack healthy), phase by phase (medians). Empty when
// none was measured.
func FunctionPhaseNote(m Measurements) []string {
	var parts []string
	for _, p := range PhaseNames() {
		var vals []string
		any := false
		for _, who := range []string{fnSeed, fnOurs, fnNone, fnUpstream} {
			r := m[phaseID(who, "boot", p)]
			any = any || r.Status == StatusOK
			vals = append(vals, phaseValue(r))
		}
		if any {
			parts = append(parts, fmt.Sprintf("%s %s s", p, strings.Join(vals, " → ")))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return []string{"first boot phases with functions (median), (a) seed's way → (b) ours → (c) no functions → (d) upstream's until healthy: " + strings.Join(parts, ", ")}
}
