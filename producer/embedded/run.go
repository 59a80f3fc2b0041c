package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/gitstate"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/internal/userfile"
	"github.com/dindbundler/dindbundler/producer/sam"
)

// Run is the producer: it parses the template and compose file of req, builds every image Plan
// lists through the engine, and writes the manifest at req.ManifestPath().
// Progress (build output, one line per image with its build time) goes to progress; nil is quiet.
func Run(ctx context.Context, api client.APIClient, req Request, progress io.Writer) (manifest.Manifest, error) {
	if err := req.check(); err != nil {
		return manifest.Manifest{}, err
	}
	path, note := builtTemplate(req.Template) // builders.go: `sam build` output, when newer
	if note != "" && progress != nil {
		fmt.Fprintln(progress, note)
	}
	t, err := sam.ParseFile(path, req.samOptions())
	if err != nil {
		return manifest.Manifest{}, err
	}
	var c *compose.File
	if req.ComposeFile != "" {
		if c, err = compose.ParseFile(req.ComposeFile, req.Vars); err != nil {
			return manifest.Manifest{}, err
		}
	}
	return runParsed(ctx, api, t, c, req, progress)
}

func runParsed(ctx context.Context, api client.APIClient, t *sam.Template, c *compose.File, req Request, progress io.Writer) (manifest.Manifest, error) {
	if progress == nil {
		progress = io.Discard
	}
	if req.CodeFiles == nil {
		var err error
		if req.CodeFiles, err = ScanCode(t); err != nil {
			return manifest.Manifest{}, err
		}
	}
	plan, err := Plan(t, c, req)
	if err != nil {
		return manifest.Manifest{}, err
	}
	roots, err := confinePlan(plan, req)
	if err != nil {
		return manifest.Manifest{}, err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(progress, "warning: %s\n", w)
	}
	path := req.ManifestPath()
	// A manifest left from an earlier run must not outlive a failed one and pass for its result.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return manifest.Manifest{}, fmt.Errorf("remove the previous manifest: %w", err)
	}

	// The images' store-independent identity: diffIDs from every engine, the config digest
	// from the image ID where that is it (not on the containerd image store: Engine.LocalOf).
	eng := engine.Of(api)
	var images []manifest.Image
	for _, b := range plan.Bases {
		img, err := ensureBase(ctx, eng, b, progress)
		if err != nil {
			return manifest.Manifest{}, err
		}
		images = append(images, img)
	}
	built, err := buildChanged(ctx, eng, plan.Images, roots, req, progress)
	if err != nil {
		return manifest.Manifest{}, err
	}
	images = append(images, built...)
	for _, e := range plan.External {
		img := manifest.Image{Name: e.Name, Kind: manifest.KindExternal, Source: SourceCompose}
		info, found, err := engine.Inspect(ctx, api, e.Name)
		switch {
		case err != nil:
			return manifest.Manifest{}, err
		case !found:
			// Not local yet: the Pull stage fetches it and fills in the digest.
		default:
			l, err := eng.LocalOf(ctx, info)
			if err != nil {
				return manifest.Manifest{}, err
			}
			img.Digest, img.Config, img.DiffIDs, img.Platform = l.ID, l.Config, l.DiffIDs, platform(info)
		}
		images = append(images, img)
	}

	// The runtime config before the manifest: the manifest is what says the run finished.
	if err := writeRuntimeConfig(req.RuntimeConfigDir(), plan.Runtime, plan.Resources); err != nil {
		return manifest.Manifest{}, err
	}
	fmt.Fprintf(progress, "wrote %s (%d functions, %d routes)\n", req.RuntimeConfigDir(), len(plan.Runtime.Functions.Functions), len(plan.Runtime.Routing.Routes))
	tmpl, err := templateInfo(ctx, t, req)
	if err != nil {
		return manifest.Manifest{}, err
	}
	m := manifest.Manifest{
		SchemaVersion: manifest.SchemaSingle,
		GeneratedAt:   time.Now().UTC(),
		Template:      &tmpl.Template,
		Build: manifest.Build{
			Project: req.Project, Env: req.Env, Mode: req.Mode,
			ImagePrefix: req.ImagePrefix, ImageTag: req.ImageTag, Git: tmpl.git,
		},
		Images: uniqueSorted(images),
	}
	if err := manifest.Write(path, m); err != nil {
		return manifest.Manifest{}, err
	}
	fmt.Fprintf(progress, "wrote %s (%d images)\n", path, len(m.Images))
	return m, nil
}

// uniqueSorted orders images by name, keeping the first entry of a name listed twice (a built
// image before a base, a base before an external image).
func uniqueSorted(images []manifest.Image) []manifest.Image {
	seen := map[string]bool{}
	var out []manifest.Image
	for _, img := range images {
		if !seen[img.Name] {
			seen[img.Name] = true
			out = append(out, img)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func platform(info image.InspectResponse) string {
	p := info.Os + "/" + info.Architecture
	if info.Variant != "" {
		p += "/" + info.Variant
	}
	return p
}

// ensureBase makes sure a base image is local, pulling it if it is not, and records it.
func ensureBase(ctx context.Context, api *engine.Engine, b BaseImage, progress io.Writer) (manifest.Image, error) {
	info, found, err := engine.Inspect(ctx, api, b.Name)
	if err == nil && !found {
		fmt.Fprintf(progress, "pull base image %s\n", b.Name)
		if perr := engine.Pull(ctx, api, b.Name, progress); perr != nil {
			return manifest.Image{}, fmt.Errorf("base image %s is not present locally and could not be pulled: %s (%w)", b.Name, b.Hint, perr)
		}
		info, found, err = engine.Inspect(ctx, api, b.Name)
		if err == nil && !found {
			err = errors.New("not found after the pull")
		}
	}
	if err != nil {
		return manifest.Image{}, fmt.Errorf("base image %s: %w", b.Name, err)
	}
	l, err := api.LocalOf(ctx, info)
	if err != nil {
		return manifest.Image{}, fmt.Errorf("base image %s: %w", b.Name, err)
	}
	return manifest.Image{Name: b.Name, Digest: l.ID, Config: l.Config, DiffIDs: l.DiffIDs, Kind: manifest.KindBase, Source: b.Source, Platform: platform(info)}, nil
}

// errBuildDone stops a context writer the engine no longer reads from.
var errBuildDone = errors.New("build finished")

// buildImage builds b with its context streamed straight from the sources, none outside root.
func buildImage(ctx context.Context, api client.APIClient, b ImageBuild, root string, progress io.Writer) (string, error) {
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := writeContext(pw, b, root)
		pw.CloseWithError(err) // nil: the engine reads EOF
		written <- err
	}()
	tail := &tailWriter{max: 20} // builders.go: the last lines, named in a failure
	id, err := engine.Build(ctx, api, pr, engine.BuildOptions{
		Tag: b.Name, Dockerfile: b.Dockerfile, BuildArgs: b.BuildArgs, Labels: b.Labels, Platform: b.Platform, Target: b.Target,
	}, engine.Tee(progress, tail))
	pr.CloseWithError(errBuildDone)
	werr := <-written
	if werr != nil && !errors.Is(werr, errBuildDone) {
		// The engine's error then only says the upload broke; this says why.
		return "", fmt.Errorf("build %s (%s %s): %w", b.Name, b.Kind, b.For, werr)
	}
	if err != nil {
		return "", buildFailure(b, err, tail.String())
	}
	return id, nil
}

type templateRecord struct {
	manifest.Template
	git manifest.Git
}

// templateInfo identifies the template: its path relative to the repository root (the git
// top level of its directory, else the project root), its SHA-256, its parameters and the git
// state. Git is optional: outside a repository (or without git) the commit is "" and the tree
// clean.
func templateInfo(ctx context.Context, t *sam.Template, req Request) (templateRecord, error) {
	data, err := userfile.ReadFile("TEMPLATE", req.Template)
	if err != nil {
		return templateRecord{}, fmt.Errorf("read SAM template: %w", err)
	}
	sum := sha256.Sum256(data)
	dir := filepath.Dir(req.Template)
	git := gitstate.Read(ctx, dir)
	root := git.Root
	if root == "" {
		root = req.ProjectRoot
	}
	rec := templateRecord{
		Template: manifest.Template{Path: relativePath(root, req.Template), SHA256: hex.EncodeToString(sum[:])},
		git:      manifest.Git{Commit: git.Commit, Dirty: len(git.Dirty) > 0},
	}
	if t != nil && len(t.Parameters) > 0 {
		rec.Parameters = copyMap(t.Parameters)
	}
	return rec, nil
}

// relativePath is p relative to root, slash-separated; symbolic links are resolved on both
// sides first, since git reports its top level resolved.
func relativePath(root, p string) string {
	resolve := func(s string) string {
		if r, err := filepath.EvalSymlinks(s); err == nil {
			return r
		}
		return s
	}
	rel, err := filepath.Rel(resolve(root), resolve(p))
	if err != nil {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(rel)
}
