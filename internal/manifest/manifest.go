// Package manifest holds the bundle manifest: the producer's record of which images a stack
// needs (schema 1.0 with one template, 1.1 with several), and the merge of several manifests
// into the single one the bundle carries. It owns the format (read, write, merge); it must not
// look at the engine or decide freshness.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
)

// Schema versions the producer writes (1.0, one template) and the merge writes (1.1).
const (
	SchemaSingle = "1.0"
	SchemaMerged = "1.1"
)

// Image kinds, which also say which stage makes an image that is missing locally.
const (
	KindBase     = "base"
	KindService  = "service"
	KindFunction = "function"
	KindExternal = "external"
)

// Manifest is the producer's schema; field names are its JSON names.
type Manifest struct {
	SchemaVersion string     `json:"schema_version"`
	GeneratedAt   time.Time  `json:"generated_at"`
	Template      *Template  `json:"template,omitempty"`
	Templates     []Template `json:"templates,omitempty"`
	Build         Build      `json:"build"`
	Images        []Image    `json:"images"`
}

// Template identifies one SAM template the images were produced from.
type Template struct {
	Path       string            `json:"path"`
	SHA256     string            `json:"sha256"`
	Parameters map[string]string `json:"parameters,omitempty"`
}

// Build is the metadata every merged manifest must agree on.
type Build struct {
	Project     string `json:"project"`
	Env         string `json:"env"`
	Mode        string `json:"mode"`
	ImagePrefix string `json:"image_prefix"`
	ImageTag    string `json:"image_tag"`
	Git         Git    `json:"git"`
}

// Git records the source state the images were built from.
type Git struct {
	Commit string `json:"commit"`
	Dirty  bool   `json:"dirty"`
}

// Image is one image the bundle must carry.
//
// Digest is the image ID the engine that built or pulled the image reported: the config digest
// on the classic image store, the manifest digest on the containerd image store. It names the
// image on that engine only; both forms are read.
//
// Config and DiffIDs are the image's store-independent identity: the digest of its config blob
// and its layers' diffIDs, base first, which every image store reports alike and which survive
// a `docker save` and `docker load` into any engine. The producer records what the engine tells
// (DiffIDs always, Config when Digest is the config digest); the Save stage learns the rest from
// the export, and the bundle's copy of the manifest always carries both. The Save stage, the
// Image stage and the bundle's entrypoint check images against them (see Identity.Check).
type Image struct {
	Name     string            `json:"name"`
	Digest   string            `json:"digest"`
	Config   string            `json:"config,omitempty"`
	DiffIDs  []string          `json:"diff_ids,omitempty"`
	Kind     string            `json:"kind"`
	Source   string            `json:"source,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Platform string            `json:"platform,omitempty"`
}

// AllTemplates returns the templates of a 1.0 (template) or 1.1 (templates) manifest.
func (m Manifest) AllTemplates() []Template {
	if len(m.Templates) > 0 {
		return m.Templates
	}
	if m.Template != nil {
		return []Template{*m.Template}
	}
	return nil
}

// Names returns the image names in manifest order.
func (m Manifest) Names() []string {
	names := make([]string, len(m.Images))
	for i, img := range m.Images {
		names[i] = img.Name
	}
	return names
}

// Read loads a manifest file.
func Read(path string) (Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("read manifest: %w", err)
	}
	m, err := Parse(data)
	if err != nil {
		return Manifest{}, fmt.Errorf("manifest %s: %w", path, err)
	}
	return m, nil
}

// Parse decodes and validates a manifest. Anything after the JSON document (a second write
// appended to a first) is an error, as is a document cut short.
func Parse(data []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("parse manifest: %w", err)
	}
	if dec.More() {
		return Manifest{}, errors.New("parse manifest: data after its JSON document")
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Encode is m as Write stores it.
func Encode(m Manifest) ([]byte, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(data, '\n'), nil
}

// Write stores m at path atomically: a reader never sees a half-written manifest, and an
// interrupted write leaves no file that looks fresh.
func Write(path string, m Manifest) error {
	return atomicfile.WriteJSON(path, m, 0o644)
}
