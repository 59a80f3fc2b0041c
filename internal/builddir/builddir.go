// Package builddir owns the layout of BUILD_DIR: every path the pipeline, the producer, the lock
// and the bench harness use under it is a method of Dir (as go-containerregistry's layout.Path
// owns an OCI layout), so the layout is composed in one place and README's "The build directory"
// table is checked against these methods. What lies inside layers/ is the layer store's own
// format (internal/layerstore); an export file's name is internal/bundlefile's.
//
// It is its own leaf package, not part of internal/config, because packages below config
// (buildlock, bundlefile) and the bench harness need the layout without configuration parsing.
package builddir

import (
	"fmt"
	"path/filepath"

	"github.com/dindbundler/dindbundler/internal/artifact"
)

// Dir is a build directory (BUILD_DIR), absolute in practice; its methods are the paths in it.
type Dir string

func (d Dir) String() string { return string(d) }

func (d Dir) join(elem ...string) string {
	return filepath.Join(append([]string{string(d)}, elem...)...)
}

// Lock is the file whose flock serialises runs over d (internal/buildlock).
func (d Dir) Lock() string { return d.join(".lock") }

// Summary is the last run's summary of its stages.
func (d Dir) Summary() string { return d.join("summary.json") }

// MergedManifest is the Manifest stage's output: the per-template manifests merged, the single truth.
func (d Dir) MergedManifest() string { return d.join("bundle", "manifest.json") }

// MergedRuntimeConfig is where the Manifest stage merges the templates' runtime configs; the Image
// stage puts its files in the bundle's /app/config.
func (d Dir) MergedRuntimeConfig() string { return d.join("bundle", "config") }

// ImageSet is the Save stage's output: the images of the bundle and their layers.
func (d Dir) ImageSet() string { return d.join("bundle", "images.json") }

// Layers is the layer store (internal/layerstore owns what is inside).
func (d Dir) Layers() string { return d.join("layers") }

// State holds the stages' records.
func (d Dir) State() string { return d.join("state") }

// StageState is the record of one stage (or of one part of a stage: "layers", "made-images").
func (d Dir) StageState(stage string) string { return d.join("state", stage+".json") }

// DeployState is the Deploy stage's record for the template whose file name stem is stem.
func (d Dir) DeployState(stem string) string { return d.StageState("deploy-" + stem) }

// ExportState is the export's record for the export file named file.
func (d Dir) ExportState(file string) string { return d.StageState("export-" + file) }

// GeneratedEnv keeps the generated storage keys of a project without a .env, so rebuilds keep them.
func (d Dir) GeneratedEnv() string { return d.join("state", "generated.env") }

// ArtifactManifest is the artifact.yml a TEMPLATE run writes for what it produced.
func (d Dir) ArtifactManifest() string { return d.join(artifact.FileName) }

// ArtifactEntryManifest is the manifest an ARTIFACT run writes for the entry id, the n-th (from 1)
// of all the artifact.yml files' entries.
func (d Dir) ArtifactEntryManifest(n int, id string) string {
	return d.join("artifacts", fmt.Sprintf("%d-%s", n, id), "manifest.json")
}

// Export is the export file named name (internal/bundlefile names it); its checksum sits next to it.
func (d Dir) Export(name string) string { return d.join(name) }

// LoadScript is the loader export writes next to the export files.
func (d Dir) LoadScript() string { return d.join("load.sh") }

// ImageLayout is the OCI image layout a standalone buildkitd's images come back into
// (internal/ocilayout owns what is inside).
func (d Dir) ImageLayout() string { return d.join("oci-layout") }

// Cache stands in for CACHE_DIR when neither CACHE_DIR, XDG_CACHE_HOME nor HOME names one.
func (d Dir) Cache() string { return d.join("cache") }

// Bench is where the bench harness writes its results and logs.
func (d Dir) Bench() string { return d.join("bench") }
