// Package artifact owns the stack's deploy-artifact contract: artifact.yml (schema "1"), the one
// input that applying a deployment accepts. It decodes and encodes the file, computes entry ids
// by the contract's rule (ID) and validates a decoded file (Validate): the schema, the ids, the
// entries' paths (resolved, never escaping their artifact root), the runtime config files each
// entry must have and the secrets it requires. It is pure — the caller passes what exists on
// disk and what the environment holds — and must not read files, look at the engine or merge
// runtime configs (internal/runtimeconfig does).
package artifact

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// FileName is the manifest's name in the stack's layout; SchemaVersion the one schema this
// package reads and writes.
const (
	FileName      = "artifact.yml"
	SchemaVersion = "1"
)

// Conventional entry paths of the stack's own producer (the contract fixes no names).
const (
	RuntimeConfigDir = "runtime-config"
	BundleManifest   = "bundle/manifest.json"
)

// Runtime config files: functions.yml and routing.yml are required in every entry's runtime
// config directory, resources.yml only when the stack's resources are used.
const (
	FunctionsFile = "functions.yml"
	RoutingFile   = "routing.yml"
	ResourcesFile = "resources.yml"
)

// Manifest is artifact.yml. Fields the contract recommends but this tool does not act on
// (runtime_meta) are kept as written.
type Manifest struct {
	SchemaVersion string         `yaml:"schema_version"`
	Project       string         `yaml:"project"`
	Env           string         `yaml:"env"`
	Mode          string         `yaml:"mode"`
	GeneratedAt   string         `yaml:"generated_at,omitempty"`
	Generator     *Generator     `yaml:"generator,omitempty"`
	MergePolicy   string         `yaml:"merge_policy,omitempty"`
	RuntimeStack  map[string]any `yaml:"runtime_stack,omitempty"`
	Artifacts     []Entry        `yaml:"artifacts"`
}

// Generator names what wrote the file.
type Generator struct {
	Name    string `yaml:"name,omitempty"`
	Version string `yaml:"version,omitempty"`
}

// Entry is one template's artifact: artifacts[] order is the deploy and merge order.
type Entry struct {
	ID                string         `yaml:"id"`
	ArtifactRoot      string         `yaml:"artifact_root"`
	RuntimeConfigDir  string         `yaml:"runtime_config_dir"`
	BundleManifest    string         `yaml:"bundle_manifest,omitempty"`
	RequiredSecretEnv []string       `yaml:"required_secret_env,omitempty"`
	SourceTemplate    SourceTemplate `yaml:"source_template"`
	RuntimeMeta       map[string]any `yaml:"runtime_meta,omitempty"`
}

// SourceTemplate records which template (and parameters) the artifact was made from; only the
// recorded strings count, never the file system.
type SourceTemplate struct {
	Path       string            `yaml:"path"`
	SHA256     string            `yaml:"sha256,omitempty"`
	Parameters map[string]string `yaml:"parameters,omitempty"`
}

// Decode reads artifact.yml's bytes; file names the file in the error.
func Decode(file string, data []byte) (Manifest, error) {
	var m Manifest
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("artifact %s: not a valid artifact.yml (%v): fix the YAML", file, err)
	}
	return m, nil
}

// Encode writes m as YAML, two-space indented, fields in the struct's order.
func Encode(m Manifest) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encode artifact.yml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode artifact.yml: %w", err)
	}
	return buf.Bytes(), nil
}

// CanonicalTemplateRef is the template path as the id rule hashes it: trimmed, back slashes made
// forward, "." and ".." and doubled slashes cleaned lexically; absolute stays absolute, case is
// kept, nothing is resolved on disk.
func CanonicalTemplateRef(p string) string {
	return path.Clean(strings.ReplaceAll(strings.TrimSpace(p), `\`, "/"))
}

// TemplateSlug is the template file's name without its extension, lower-cased, each run of
// characters outside [a-z0-9] made one "-", dashes trimmed; "template" when nothing is left.
func TemplateSlug(p string) string {
	base := path.Base(CanonicalTemplateRef(p))
	stem := strings.ToLower(strings.TrimSuffix(base, path.Ext(base)))
	var b strings.Builder
	dash := false
	for _, r := range stem {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	if slug := strings.Trim(b.String(), "-"); slug != "" {
		return slug
	}
	return "template"
}

// ID is an entry's id: <template slug>-<h8>, h8 the first 8 hex digits of the sha256 of the
// canonical template path, the parameters as sorted key=value lines, and the source sha256 (or
// ""), joined by newlines.
func ID(t SourceTemplate) string {
	lines := make([]string, 0, len(t.Parameters))
	for _, k := range slices.Sorted(maps.Keys(t.Parameters)) {
		lines = append(lines, k+"="+t.Parameters[k])
	}
	seed := CanonicalTemplateRef(t.Path) + "\n" + strings.Join(lines, "\n") + "\n" + strings.TrimSpace(t.SHA256)
	sum := sha256.Sum256([]byte(seed))
	return TemplateSlug(t.Path) + "-" + hex.EncodeToString(sum[:4])
}

// Resolved is one valid entry with its paths made absolute.
type Resolved struct {
	File             string // the artifact.yml it came from
	Index            int
	Entry            Entry
	Root             string // artifact_root
	RuntimeConfigDir string
	BundleManifest   string // "" when the entry names none
}

// Name says which entry this is in messages: "<file> artifacts[<i>] (<id>)".
func (r Resolved) Name() string { return entryName(r.File, r.Index, r.Entry.ID) }

func entryName(file string, i int, id string) string {
	if id == "" {
		return fmt.Sprintf("%s artifacts[%d]", file, i)
	}
	return fmt.Sprintf("%s artifacts[%d] (%s)", file, i, id)
}

// Facts are what validation needs from outside: whether a path is a regular file, and whether
// an environment variable is set (its value is never asked for, so it cannot be logged).
type Facts struct {
	IsFile    func(path string) bool
	SecretSet func(name string) bool
}

// Validate checks m, read from file (absolute), against the contract and resolves its entries.
// Every problem is reported, each naming the file, the entry and the field; a required secret
// that is unset is named, never shown.
func Validate(file string, m Manifest, facts Facts) ([]Resolved, error) {
	var errs []error
	fail := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("artifact %s: "+format, append([]any{file}, a...)...))
	}
	if v := strings.TrimSpace(m.SchemaVersion); v != SchemaVersion {
		fail("schema_version %q is not supported: this tool reads schema_version %q; produce the artifact with a matching producer", v, SchemaVersion)
	}
	for _, f := range []struct{ name, value string }{{"project", m.Project}, {"env", m.Env}, {"mode", m.Mode}} {
		if strings.TrimSpace(f.value) == "" {
			fail("%s is missing: the contract requires it", f.name)
		}
	}
	if len(m.Artifacts) == 0 {
		fail("artifacts is empty: list at least one entry (one per template)")
	}
	dir := filepath.Dir(file)
	seen := map[string]int{}
	var out []Resolved
	for i, e := range m.Artifacts {
		name := entryName(file, i, e.ID)
		bad := func(field, format string, a ...any) {
			errs = append(errs, fmt.Errorf("artifact %s: %s: "+format, append([]any{name, field}, a...)...))
		}
		want := ID(e.SourceTemplate)
		switch {
		case strings.TrimSpace(e.SourceTemplate.Path) == "":
			bad("source_template.path", "is missing: name the template the artifact was made from")
		case e.ID == "":
			bad("id", "is missing: the contract's id for this entry is %s", want)
		case e.ID != want:
			bad("id", "%q is not the id the contract computes from source_template (%s): the entry was edited or made by another rule; regenerate the artifact", e.ID, want)
		}
		if j, dup := seen[e.ID]; dup && e.ID != "" {
			bad("id", "%q is also the id of artifacts[%d]: each entry must have its own id", e.ID, j)
		}
		seen[e.ID] = i
		r := Resolved{File: file, Index: i, Entry: e, Root: rootOf(dir, e.ArtifactRoot)}
		if r.Root == "" {
			bad("artifact_root", "is missing: name the artifact directory (absolute, or relative to %s)", dir)
		}
		var err error
		if r.RuntimeConfigDir, err = inside(r.Root, e.RuntimeConfigDir, true); err != nil {
			bad("runtime_config_dir", "%v", err)
		}
		if strings.TrimSpace(e.BundleManifest) != "" {
			if r.BundleManifest, err = inside(r.Root, e.BundleManifest, true); err != nil {
				bad("bundle_manifest", "%v", err)
			} else if r.Root != "" && !facts.IsFile(r.BundleManifest) {
				bad("bundle_manifest", "%s does not exist: restore the artifact or remove bundle_manifest", r.BundleManifest)
			}
		}
		if r.Root != "" && r.RuntimeConfigDir != "" {
			for _, f := range []string{FunctionsFile, RoutingFile} {
				if p := filepath.Join(r.RuntimeConfigDir, f); !facts.IsFile(p) {
					bad("runtime_config_dir", "%s is missing: every entry's runtime config has %s and %s; regenerate the artifact", p, FunctionsFile, RoutingFile)
				}
			}
		}
		for _, s := range e.RequiredSecretEnv {
			switch s = strings.TrimSpace(s); {
			case s == "":
				bad("required_secret_env", "holds an empty name")
			case !facts.SecretSet(s):
				bad("required_secret_env", "secret %s is not set: set it in the environment (or the ENV file) before the bundle is made; artifacts never hold secrets", s)
			}
		}
		out = append(out, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Resolve lists m's entries with the paths they name made absolute, as far as they can be:
// a path Validate would refuse is "". It checks nothing; the caller validates before use.
func Resolve(file string, m Manifest) []Resolved {
	out := make([]Resolved, 0, len(m.Artifacts))
	for i, e := range m.Artifacts {
		r := Resolved{File: file, Index: i, Entry: e, Root: rootOf(filepath.Dir(file), e.ArtifactRoot)}
		r.RuntimeConfigDir, _ = inside(r.Root, e.RuntimeConfigDir, true)
		r.BundleManifest, _ = inside(r.Root, e.BundleManifest, false)
		out = append(out, r)
	}
	return out
}

// rootOf is artifact_root made absolute against dir (the artifact.yml's directory); "" when
// unset.
func rootOf(dir, root string) string {
	switch root = strings.TrimSpace(root); {
	case root == "":
		return ""
	case filepath.IsAbs(filepath.FromSlash(root)):
		return filepath.Clean(filepath.FromSlash(root))
	default:
		return filepath.Join(dir, filepath.FromSlash(root))
	}
}

// inside resolves rel (slash separated, relative) under root, refusing absolute paths and paths
// that leave root; required refuses "" and ".".
func inside(root, rel string, required bool) (string, error) {
	rel = strings.TrimSpace(rel)
	if rel == "" {
		if required {
			return "", errors.New("is missing: name a directory relative to artifact_root")
		}
		return "", nil
	}
	clean := path.Clean(strings.ReplaceAll(rel, `\`, "/"))
	switch {
	case path.IsAbs(clean) || filepath.IsAbs(filepath.FromSlash(rel)):
		return "", fmt.Errorf("%q is absolute: it must be relative to artifact_root", rel)
	case clean == "..", strings.HasPrefix(clean, "../"):
		return "", fmt.Errorf("%q leaves artifact_root: it must stay inside it", rel)
	case clean == "." && required:
		return "", fmt.Errorf("%q is artifact_root itself: name a directory inside it", rel)
	}
	if root == "" {
		return "", nil
	}
	return filepath.Join(root, filepath.FromSlash(clean)), nil
}
