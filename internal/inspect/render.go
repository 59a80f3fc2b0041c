package inspect

import (
	"github.com/docker/go-units"

	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// JSON writes the report for scripts (INSPECT_FORMAT=json).
func (r Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Text writes the report for people.
func (r Report) Text(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	p("bundle\t%s", orDash(r.Bundle, r.Source))
	if r.Image != "" {
		p("image ID\t%s", r.Image)
	}
	if r.File != nil {
		p("file\t%s, compressed as %s", r.Source, r.File.Compression)
		if r.File.Requires != "" {
			p("differential\tneeds %s on the target", r.File.Requires)
		}
	}
	p("compose project\t%s", orDash(r.Project, ""))
	if r.Engine != nil {
		from := ""
		if r.Engine.Suite != "" {
			from = " (Debian " + r.Engine.Suite + ")"
		}
		p("inner engine\tDocker Engine %s%s", r.Engine.Version, from)
	}
	p("layer compression\t%s", r.Compression)
	var size, comp int64
	for _, img := range r.Images {
		size += img.Size
		comp += img.CompressedSize
	}
	for _, l := range r.SharedLayers {
		// Stored once, counted once per image above.
		size -= int64(len(l.Images)-1) * l.Size
		comp -= int64(len(l.Images)-1) * l.CompressedSize
	}
	p("\nimages (%d; %s, %s compressed, shared layers once)", len(r.Images), human(size), human(comp))
	p("  NAME\tKIND\tLAYERS\tSHARED\tSIZE\tCOMPRESSED\tID")
	for _, img := range r.Images {
		p("  %s\t%s\t%d\t%d\t%s\t%s\t%s", img.Name, orDash(img.Kind, ""), img.Layers, img.SharedLayers, human(img.Size), human(img.CompressedSize), short(img.ID))
	}
	p("\nshared layers (%d)", len(r.SharedLayers))
	for _, l := range r.SharedLayers {
		p("  %s\t%s\t%s compressed\t%s", short(l.DiffID), human(l.Size), human(l.CompressedSize), strings.Join(l.Images, ", "))
	}
	p("\ncompose services (%d)", len(r.Services))
	for _, s := range r.Services {
		what := s.Image
		if s.Build {
			what = strings.TrimSpace(what + " (built by the producer)")
		}
		p("  %s\t%s", s.Name, orDash(what, ""))
	}
	p("\nfunctions (%d, /app/config/functions.yml)", len(r.Functions))
	for _, f := range r.Functions {
		p("  %s\t%s", f.Name, f.Image)
	}
	p("\nroutes (%d, /app/config/routing.yml)", len(r.Routes))
	for _, rt := range r.Routes {
		p("  %s %s\t→ %s", rt.Method, rt.Path, rt.Function)
	}
	p("\ncertificates (%d)", len(r.Certs))
	for _, c := range r.Certs {
		state := fmt.Sprintf("%d days left", c.DaysLeft)
		if c.DaysLeft < 0 {
			state = "EXPIRED"
		}
		p("  %s\t%s\texpires %s (%s)", c.File, c.Subject, c.NotAfter.Format("2006-01-02"), state)
	}
	p("\n.env keys (%d; values are never shown)", len(r.EnvKeys))
	if len(r.EnvKeys) > 0 {
		p("  %s", strings.Join(r.EnvKeys, " "))
	}
	if c := r.Changes; c != nil {
		p("\nchanges since %s", c.Against)
		p("  images added\t%s", list(c.ImagesAdded))
		p("  images removed\t%s", list(c.ImagesRemoved))
		for _, ch := range c.ImagesChanged {
			p("  image changed\t%s: %s → %s (%+d bytes)", ch.Name, short(ch.From), short(ch.To), ch.Delta)
		}
		p("  services added / removed / new image\t%s / %s / %s", list(c.ServicesAdded), list(c.ServicesGone), list(c.ServicesImage))
		p("  .env keys added / removed\t%s / %s", list(c.EnvKeysAdded), list(c.EnvKeysRemoved))
		p("  certificates changed\t%s", list(c.CertsChanged))
		p("  new image layers\t%s compressed", human(c.NewLayerBytes))
	}
	for _, m := range r.Missing {
		p("\nnote: %s", m)
	}
	return tw.Flush()
}

func list(v []string) string {
	if len(v) == 0 {
		return "none"
	}
	return strings.Join(v, ", ")
}

func orDash(v, alt string) string {
	switch {
	case v != "":
		return v
	case alt != "":
		return alt
	}
	return "-"
}

func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// human is a byte count in binary units, as the docker CLI prints sizes.
func human(n int64) string { return units.BytesSize(float64(n)) }
