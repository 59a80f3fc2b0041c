package config

import (
	"fmt"
	"strings"

	"github.com/dindbundler/dindbundler/internal/layerfile"
)

// Export is the configuration of the targets around the bundle (export, inspect, CI output),
// read from the same variables as the rest (Config.Vars: ./.env overlaid by the environment).
type Export struct {
	// Compression of the exported file: EXPORT_COMPRESSION, gzip (default), zstd or none.
	Compression layerfile.Compression
	// Against is EXPORT_AGAINST: a previous export file or bundle tag; the export then holds
	// only the layers that bundle lacks.
	Against string
	// Inspect is INSPECT_BUNDLE: a bundle file or tag to inspect; default BUNDLE_TAG.
	Inspect string
	// InspectAgainst is INSPECT_AGAINST: a previous bundle (tag or file) to report the changes from.
	InspectAgainst string
	// InspectFormat is INSPECT_FORMAT: text (default) or json.
	InspectFormat string
	// CI is CI=true (set by GitHub Actions and most CI services): one stable line per stage.
	CI bool
}

// ExportSettings reads the Export settings from c.Vars.
func (c Config) ExportSettings() (Export, error) {
	get := func(k string) string { return strings.TrimSpace(c.Vars[k]) }
	compression := orDefault(strings.ToLower(get("EXPORT_COMPRESSION")), string(layerfile.Gzip))
	e := Export{
		Against:        get("EXPORT_AGAINST"),
		Inspect:        orDefault(get("INSPECT_BUNDLE"), c.BundleTag),
		InspectAgainst: get("INSPECT_AGAINST"),
		InspectFormat:  orDefault(strings.ToLower(get("INSPECT_FORMAT")), "text"),
		CI:             truthy(get("CI")),
	}
	var ok bool
	if e.Compression, ok = layerfile.Parse(compression); !ok {
		return Export{}, fmt.Errorf("EXPORT_COMPRESSION%s: use gzip (any engine loads it), zstd (Engine 23.0 or later) or none", c.shownVar("EXPORT_COMPRESSION", compression))
	}
	switch e.InspectFormat {
	case "text", "json":
	default:
		return Export{}, fmt.Errorf("INSPECT_FORMAT%s: use text or json", c.shownVar("INSPECT_FORMAT", e.InspectFormat))
	}
	return e, nil
}

// shownVar is `=<value quoted>` for an error about variable k, or " (from .env)" when .env sets
// k: no error prints a value of .env.
func (c Config) shownVar(k, v string) string {
	if _, ok := c.DotEnv[k]; ok {
		return " (from .env)"
	}
	return fmt.Sprintf("=%q", v)
}
