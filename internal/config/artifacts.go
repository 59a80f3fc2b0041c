package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dindbundler/dindbundler/internal/artifact"
)

// artifacts resolves ARTIFACT (comma separated artifact.yml files, or directories holding one)
// into templates, one per entry in the files' order: the order artifacts[] gives is the merge
// order. It reads the files but checks nothing they name: the Deploy stage validates.
func (r *resolver) artifacts(value string) error {
	c := &r.c
	seen := map[string]bool{}
	for _, p := range strings.Split(value, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		file := r.abs(p)
		if st, err := os.Stat(file); err == nil && st.IsDir() {
			file = filepath.Join(file, artifact.FileName)
		}
		if seen[file] {
			return fmt.Errorf("ARTIFACT names %s twice: list each artifact.yml once", file)
		}
		seen[file] = true
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("ARTIFACT names %s: %w: fix ARTIFACT (an artifact.yml, or the directory holding one)", file, err)
		}
		m, err := artifact.Decode(file, data)
		if err != nil {
			return err
		}
		c.Artifacts = append(c.Artifacts, file)
		for _, e := range artifact.Resolve(file, m) {
			n := len(c.Templates)
			c.Templates = append(c.Templates, Template{
				Path:             e.Name(),
				Dir:              e.Root,
				Stem:             e.Entry.ID,
				OutputRoot:       e.Root,
				ManifestPath:     c.Layout().ArtifactEntryManifest(n+1, e.Entry.ID),
				RuntimeConfigDir: e.RuntimeConfigDir,
				Artifact:         &ArtifactRef{File: file, Index: e.Index, ID: e.Entry.ID, BundleManifest: e.BundleManifest},
			})
		}
	}
	return nil
}
