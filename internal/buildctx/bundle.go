package buildctx

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

// Bundle is everything the bundle's context is made of.
type Bundle struct {
	Dockerfile, Entrypoint []byte // dind/Dockerfile and dind/entrypoint.sh
	ComposeFile            string
	ConfigDir              string // "" → an empty /app/config
	DotEnv                 []byte // the bundle's .env (see DotEnv)
	// Manifest is the merged manifest with every image's identity (config digest and diffIDs):
	// app/bundle/manifest.json and images.txt.
	Manifest       manifest.Manifest
	CertDir        string
	CertFiles      []string // relative to CertDir: certs.BundleFiles, CA key already left out
	RunUID, RunGID int
	// Images are the entries of the bundle's images directory at their context paths, its
	// directory included (bundleimage.ContextEntries; that package owns its layout).
	Images []Entry

	// RuntimeConfigDir is the merged runtime config (functions.yml, routing.yml), put in
	// /app/config beside CONFIG_DIR's files; "" when the bundle has none.
	RuntimeConfigDir string
	// Root is the project root (internal/confine): CONFIG_DIR and what its links point to must
	// lie inside it.
	Root string
	// Stack is how the compose file's host references are carried (Carry); its rewritten
	// compose file, when there is one, replaces ComposeFile's content.
	Stack Carried

	// Parts are the entrypoint's sourced parts (dind.RuntimeFiles), put in bin/ under their
	// installed names. RegistryBinary is the bundle's registry command built for the base's
	// platform (package registrybin; "" for none), named by its build key, in bin/ too.
	Parts          []dind.RuntimeFile
	RegistryBinary string
	// RegistryIndex is app/bundle/registry.json (package registry's Index; nil when the
	// registry serves nothing) and Served app/bundle/served.txt (ServedList).
	RegistryIndex []byte
	Served        []byte
}

// BinDir is the context directory dind/Dockerfile copies into dind.BinDir: the registry
// command and the entrypoint's parts.
const BinDir = "bin"

// RegistryBinaryName is the registry command's name in dind.BinDir (BinDir in the context).
const RegistryBinaryName = dind.InstalledPrefix + "registry"

// ServedList is dind.ServedList (app/bundle/served.txt): one line per image the bundle's registry serves, named
// as images.txt names it, and whether the boot loads it ("boot": compose runs it) or it comes
// from the registry only ("pull"; FUNCTIONS_PRELOAD decides when):
//
//	<name> boot|pull
//
// images.txt keeps listing every image as before; the entrypoint loads at boot the images it
// lists minus those marked "pull".
func ServedList(served, pulled []string) []byte {
	pull := map[string]bool{}
	for _, n := range pulled {
		pull[n] = true
	}
	var buf bytes.Buffer
	for _, n := range served {
		when := "boot"
		if pull[n] {
			when = "pull"
		}
		fmt.Fprintf(&buf, "%s %s\n", n, when)
	}
	return buf.Bytes()
}

// Plan lists the context's entries in the layout dind/Dockerfile copies from. It lists
// directories and reads the certificate and config files only to find private keys, which get
// mode 0600 whatever their name.
func Plan(b Bundle) ([]Entry, error) {
	if len(b.Images) == 0 || len(b.Manifest.Images) == 0 || b.ComposeFile == "" {
		return nil, fmt.Errorf("bundle context: images, manifest and compose file are all required")
	}
	manifestJSON, err := manifest.Encode(b.Manifest)
	if err != nil {
		return nil, err
	}
	entries := []Entry{
		{Name: "Dockerfile", Data: b.Dockerfile, Mode: 0o644},
		{Name: "entrypoint.sh", Data: b.Entrypoint, Mode: 0o755},
		{Name: dind.Rel(dind.AppDir), Dir: true, Mode: 0o755},
		composeEntry(b),
		// The .env holds the stack's secrets: readable by root only inside the bundle.
		{Name: dind.Rel(dind.EnvFile), Data: b.DotEnv, Mode: 0o600},
		{Name: dind.Rel(dind.BundleDir), Dir: true, Mode: 0o755},
		{Name: dind.Rel(dind.ManifestFile), Data: manifestJSON, Mode: 0o644},
		{Name: dind.Rel(dind.ImagesList), Data: ImagesList(b.Manifest), Mode: 0o644},
		{Name: dind.Rel(dind.ServedList), Data: b.Served, Mode: 0o644},
		{Name: BinDir, Dir: true, Mode: 0o755},
	}
	for _, part := range b.Parts {
		entries = append(entries, Entry{Name: path.Join(BinDir, part.Installed), Data: part.Data, Mode: 0o644})
	}
	if b.RegistryIndex != nil {
		entries = append(entries, Entry{Name: dind.Rel(dind.RegistryIndex), Data: b.RegistryIndex, Mode: 0o644})
	}
	if b.RegistryBinary != "" {
		// Named by its build key (registrybin): the name stands for the content.
		entries = append(entries, Entry{Name: path.Join(BinDir, RegistryBinaryName), Src: b.RegistryBinary, Mode: 0o755, Addressed: true})
	}
	for _, e := range b.Images {
		if e.Mode == 0 {
			e.Mode = 0o644
		}
		entries = append(entries, e)
	}
	entries = append(entries, b.Stack.Entries...)
	if b.ConfigDir != "" {
		tree, err := Tree(b.ConfigDir, b.Root, dind.Rel(dind.ConfigDir), 0, 0)
		if err != nil {
			return nil, err
		}
		entries = append(entries, tree...)
	} else {
		entries = append(entries, Entry{Name: dind.Rel(dind.ConfigDir), Dir: true, Mode: 0o755})
	}
	if b.RuntimeConfigDir != "" {
		if entries, err = withRuntimeConfig(entries, b.RuntimeConfigDir, b.ConfigDir); err != nil {
			return nil, err
		}
	}
	entries = append(entries, Entry{Name: "certs", Dir: true, Mode: 0o755, UID: b.RunUID, GID: b.RunGID})
	dirs := map[string]bool{}
	for _, rel := range b.CertFiles {
		name := path.Join("certs", filepath.ToSlash(rel))
		if caKeyName(name) {
			return nil, fmt.Errorf("bundle context: CA private key %s must not be in the bundle: remove it from the certificates directory %s", filepath.Join(b.CertDir, rel), b.CertDir)
		}
		for d := path.Dir(name); d != "certs" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			entries = append(entries, Entry{Name: d, Dir: true, Mode: 0o755, UID: b.RunUID, GID: b.RunGID})
		}
		entries = append(entries, Entry{Name: name, Src: filepath.Join(b.CertDir, rel), Mode: 0o644, UID: b.RunUID, GID: b.RunGID})
	}
	if err := protectKeys(entries); err != nil {
		return nil, err
	}
	Sort(entries)
	return entries, nil
}

// withRuntimeConfig adds the runtime config's files under app/config. A file CONFIG_DIR has at
// the same path must hold the same bytes (it is then carried once); different content is an
// error naming both files, since one would silently hide the other.
func withRuntimeConfig(entries []Entry, dir, configDir string) ([]Entry, error) {
	tree, err := Tree(dir, dir, dind.Rel(dind.ConfigDir), 0, 0)
	if err != nil {
		return nil, err
	}
	at := map[string]Entry{}
	for _, e := range entries {
		at[e.Name] = e
	}
	for _, e := range tree {
		have, clash := at[e.Name]
		switch {
		case !clash:
			entries = append(entries, e)
		case have.Dir && e.Dir:
		case have.Dir || e.Dir:
			return nil, fmt.Errorf("bundle context: /%s is a directory in one of CONFIG_DIR %s and the runtime config %s and a file in the other: rename the one in CONFIG_DIR", e.Name, configDir, dir)
		default:
			same, err := sameContent(have.Src, e.Src)
			if err != nil {
				return nil, fmt.Errorf("bundle context: /%s: %w", e.Name, err)
			}
			if !same {
				return nil, fmt.Errorf("bundle context: %s (CONFIG_DIR) and %s (the runtime config merged from the templates) are both /%s and differ: remove %s from CONFIG_DIR, or make it equal", have.Src, e.Src, e.Name, have.Src)
			}
		}
	}
	return entries, nil
}

func sameContent(a, b string) (bool, error) {
	x, err := os.ReadFile(a)
	if err != nil {
		return false, err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(x, y), nil
}

// caKeyNames are the names refused under the certificates, whatever the file holds
// (certs.BundleFiles leaves out the keys it recognises as a CA's by content), so the bundle put
// together without a builder refuses what the Dockerfile refuses. This is their one list:
// dind/Dockerfile's RUN spells it in sh for a build by hand, and TestDockerfileRefusesCAKeyNames
// checks it spells exactly these.
var caKeyNames = []string{"rootCA.key", "rootCA-key.pem", "ca.key", "ca-key.pem"}

func caKeyName(name string) bool {
	for _, n := range caKeyNames {
		if strings.EqualFold(path.Base(name), n) {
			return true
		}
	}
	return false
}

// composeEntry is app/compose.yml: the project's file, or its rewrite pointing at carried files.
func composeEntry(b Bundle) Entry {
	if b.Stack.Compose != nil {
		return Entry{Name: dind.Rel(dind.ComposeFile), Data: b.Stack.Compose, Mode: 0o644}
	}
	return Entry{Name: dind.Rel(dind.ComposeFile), Src: b.ComposeFile, Mode: 0o644}
}

// maxKeyFile is the largest file searched for a private key; keys and certificate bundles are
// kilobytes, so a larger config file (data, a model) is left as it is.
const maxKeyFile = 16 << 20

// protectKeys gives every certificate or config file holding a private key (found by content,
// whatever its name: *.pem, *.key, a DER file) mode 0600, readable only by its owner.
func protectKeys(entries []Entry) error {
	for i, e := range entries {
		if e.Src == "" || e.Dir || !(strings.HasPrefix(e.Name, "certs/") || strings.HasPrefix(e.Name, dind.Rel(dind.ConfigDir)+"/") || strings.HasPrefix(e.Name, filesDir+"/")) {
			continue
		}
		info, err := os.Stat(e.Src)
		if err != nil {
			return fmt.Errorf("bundle context %s: %w", e.Name, err)
		}
		if info.Size() > maxKeyFile {
			continue
		}
		data, err := os.ReadFile(e.Src)
		if err != nil {
			return fmt.Errorf("bundle context %s: %w", e.Name, err)
		}
		if certs.HoldsPrivateKey(data) {
			entries[i].Mode = 0o600
		}
	}
	return nil
}

// ImagesList is app/bundle/images.txt, one line per manifest image, so the POSIX sh entrypoint
// can verify the loaded images without a JSON parser:
//
//	<config digest> <name> <diffID>,<diffID>,…
//
// The config digest and the diffIDs are what every image store agrees on (manifest.Image); an
// image recorded without its config digest (a manifest not passed through the Save stage) is
// listed by its digest, and without layers by "-".
func ImagesList(m manifest.Manifest) []byte {
	var buf bytes.Buffer
	for _, img := range m.Images {
		config := img.Config
		if config == "" {
			config = img.Digest
		}
		layers := strings.Join(img.DiffIDs, ",")
		if layers == "" {
			layers = "-"
		}
		fmt.Fprintf(&buf, "%s %s %s\n", config, img.Name, layers)
	}
	return buf.Bytes()
}

// Layer maps the context entries Plan lists to the paths dind/Dockerfile copies them to, as one
// image layer (the bundle's top layer when the image is put together without a builder):
// images/ → /images, entrypoint.sh → dind.EntrypointPath, bin/'s files → dind.BinDir, app/ → /app,
// certs/ → certTarget (owners kept); the Dockerfile itself is left out, and bin/ itself (COPY
// of a directory's content leaves the target directory as the base has it). Parents are not entries: the engine makes a missing
// one root's, 0755, as COPY does for a directory the base lacks, but for one the base has (/root,
// 0700) that directory would then hide the base's mode and owner, where COPY keeps them: add
// them with WithParents.
func Layer(entries []Entry, certTarget string) []Entry {
	target := strings.Trim(path.Clean("/"+certTarget), "/")
	var out []Entry
	for _, e := range entries {
		switch first, rest, _ := strings.Cut(e.Name, "/"); first {
		case "Dockerfile":
			continue
		case "entrypoint.sh":
			e.Name = dind.Rel(dind.EntrypointPath)
		case BinDir:
			if rest == "" {
				continue
			}
			e.Name = path.Join(dind.Rel(dind.BinDir), rest)
		case "certs":
			e.Name = path.Join(target, rest)
		}
		out = append(out, e)
	}
	Sort(out)
	return out
}

// Parents are the directories above a layer's entries that are not entries themselves, as
// absolute paths, shallowest first ("/" left out: the engine never takes it from a layer).
func Parents(layer []Entry) []string {
	in := map[string]bool{}
	for _, e := range layer {
		in[e.Name] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range layer {
		for d := path.Dir(e.Name); d != "." && d != "/" && !in[d] && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			out = append(out, "/"+d)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if da, db := strings.Count(out[a], "/"), strings.Count(out[b], "/"); da != db {
			return da < db
		}
		return out[a] < out[b]
	})
	return out
}

// WithParents adds to layer a directory entry for each of its Parents the base image has, with
// the base's mode and owner (base: by absolute path, as the base's own tar headers say), so the
// layer changes no directory it only passes through, as COPY leaves /root and /usr/local/bin as
// the base has them. A parent the base lacks, or has as something else than a directory, is left
// to the engine (root's, 0755, what COPY creates too).
func WithParents(layer []Entry, base map[string]Entry) []Entry {
	out := append([]Entry{}, layer...)
	for _, p := range Parents(layer) {
		if b, ok := base[p]; ok && b.Dir {
			out = append(out, Entry{Name: strings.TrimPrefix(p, "/"), Dir: true, Mode: b.Mode.Perm(), UID: b.UID, GID: b.GID})
		}
	}
	Sort(out)
	return out
}
