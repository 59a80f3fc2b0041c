package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/buildkit"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/internal/ocilayout"
)

// This file makes the image, not the template, the producer's unit of freshness: a run rebuilds
// only the images whose own inputs changed — the files of their build context, their plan entry
// (Dockerfile, build arguments, labels, platform, target: every setting that reaches the image
// reaches it through the plan, see PlanSettings) and the IDs of the images their Dockerfile
// starts from — and takes the others' manifest entries as recorded, once the engine shows it
// still has them under their name.

// imageStateVersion changes when what a record means changes: older records are then ignored.
const imageStateVersion = 1

// imageState is what the producer records of the images it built, next to the manifest.
type imageState struct {
	Version int                    `json:"version"`
	Images  map[string]imageRecord `json:"images"`
}

// imageRecord is one built image: what it was built from and what the manifest said of it.
type imageRecord struct {
	Key    string                      `json:"key"`    // imageKey when it was built
	Inputs map[string]fresh.FileRecord `json:"inputs"` // its context files when it was built
	Image  manifest.Image              `json:"image"`  // its manifest entry (Digest: the engine's ID)
}

// imageStatePath is where the run for req records its images: beside the manifest, inside the
// output root (never an input of the Deploy stage).
func imageStatePath(req Request) string {
	return filepath.Join(filepath.Dir(req.ManifestPath()), "images.json")
}

// readImageState reads the records of an earlier run; none (or an older format) is an empty
// state, so every image is built.
func readImageState(path string) (imageState, error) {
	empty := imageState{Version: imageStateVersion, Images: map[string]imageRecord{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return empty, fmt.Errorf("read the images' build records %s: %w", path, err)
	}
	var s imageState
	if err := json.Unmarshal(data, &s); err != nil || s.Version != imageStateVersion || s.Images == nil {
		return empty, nil // unreadable records only cost a rebuild
	}
	return s, nil
}

// writeImageState records s (temp file, then rename).
func writeImageState(path string, s imageState) error {
	if err := atomicfile.WriteJSON(path, s, 0o644); err != nil {
		return fmt.Errorf("record the built images in %s: %w", path, err)
	}
	return nil
}

// imageKey identifies what b is built from besides its context files: its whole plan entry and
// the IDs the engine has for the images its Dockerfile starts from (fromIDs; an absent one counts
// as absent).
func imageKey(b ImageBuild, fromIDs map[string]string) string {
	entry, err := json.Marshal(b)
	if err != nil {
		panic(err) // strings, maps and slices of them: always marshal
	}
	parts := []string{string(entry)}
	for _, name := range b.From {
		parts = append(parts, name, fromIDs[name])
	}
	return fresh.Key(parts...)
}

// imageInputs are the files and directories b's context is made of, and the paths left out.
func imageInputs(b ImageBuild) (inputs, exclude []string) {
	for _, e := range b.Context {
		if e.Source != "" && !slices.Contains(inputs, e.Source) {
			inputs = append(inputs, e.Source)
		}
		exclude = append(exclude, e.Exclude...)
	}
	slices.Sort(inputs)
	return inputs, exclude
}

// imageFacts are what decides whether one image needs building.
type imageFacts struct {
	Force    bool
	Recorded *imageRecord // nil: never built by this producer (or the record was lost)
	Key      string       // imageKey now
	Changed  string       // the first context file changed since the record ("" when none)
	EngineID string       // the ID the engine has under the image's name; "" when it has none
}

// decideImage says whether an image can be taken as recorded, and otherwise why it is built.
func decideImage(f imageFacts) fresh.Decision {
	switch {
	case f.Force:
		return fresh.Decision{Reason: "FORCE is set"}
	case f.Recorded == nil:
		return fresh.Decision{Reason: "not built before"}
	case f.Recorded.Key != f.Key:
		return fresh.Decision{Reason: "its build changed (Dockerfile, build arguments, labels, platform, or the images it starts from)"}
	case f.Changed != "":
		return fresh.Decision{Reason: f.Changed + " changed"}
	case f.EngineID == "":
		return fresh.Decision{Reason: "the engine no longer has it"}
	case f.EngineID != f.Recorded.Image.Digest:
		return fresh.Decision{Reason: "the engine's image of that name is another one (built or tagged since)"}
	}
	return fresh.Decision{Fresh: true, Reason: "unchanged"}
}

// pendingBuild is an image to build, with its context files as they were before the build.
type pendingBuild struct {
	ImageBuild
	inputs map[string]fresh.FileRecord
	reason string
}

// buildChanged builds the images of builds whose inputs changed since the recorded run (every
// one the first time, or with req.Force), takes the others' manifest entries as recorded, and
// records what it built, also when a build fails (the images built meanwhile stay recorded).
func buildChanged(ctx context.Context, api *engine.Engine, builds []ImageBuild, roots map[string]string, req Request, progress io.Writer) ([]manifest.Image, error) {
	if len(builds) == 0 {
		return nil, nil
	}
	statePath := imageStatePath(req)
	state, err := readImageState(statePath)
	if err != nil {
		return nil, err
	}
	ids, err := engine.TaggedIDs(ctx, api)
	if err != nil {
		return nil, err
	}
	next := imageState{Version: imageStateVersion, Images: map[string]imageRecord{}}
	var images []manifest.Image
	var todo []pendingBuild
	for _, b := range builds {
		inputs, exclude := imageInputs(b)
		rec, has := state.Images[b.Name]
		records, changed, err := fresh.Snapshot(inputs, exclude, rec.Inputs)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", b.Kind, b.For, err)
		}
		f := imageFacts{Force: req.Force, Key: imageKey(b, ids), Changed: changed, EngineID: ids[familiarName(b.Name)]}
		if has {
			f.Recorded = &rec
		}
		if d := decideImage(f); !d.Fresh {
			todo = append(todo, pendingBuild{ImageBuild: b, inputs: records, reason: d.Reason})
			continue
		}
		// The new signatures: a file touched but unchanged is not hashed again next time.
		next.Images[b.Name] = imageRecord{Key: rec.Key, Inputs: records, Image: rec.Image}
		images = append(images, rec.Image)
	}
	fmt.Fprintln(progress, buildSummary(len(builds), todo))
	if len(todo) == 0 {
		return images, writeImageState(statePath, next)
	}

	// The builders first: whether this run keeps what it builds, and restores what was kept,
	// is decided once from what they can do (decideKeep).
	run, err := connectBuilders(ctx, api, req, progress)
	if err != nil {
		return nil, err
	}
	defer run.Close()
	store, err := api.Store(ctx)
	if err != nil {
		return nil, err
	}
	layoutDir, resultsDir, err := buildkit.KeptImages(req.BuildCache)
	if err != nil {
		return nil, err
	}
	cache := keptCache{Layout: layoutDir, Results: resultsDir}
	mode := decideKeep(cache.Layout, req.Force, run.keepers())
	if mode.Why != "" {
		req.note(progress, fmt.Sprintf("builds: %s: %s", buildkit.CacheVariable, mode.Why))
	}
	var kept *ocilayout.Layout // the result cache (resultcache.go), open for the whole run
	if cache.Layout != "" {
		if kept, err = cache.open(); err != nil {
			return nil, err
		}
		defer kept.Close()
	}
	keys := map[string]string{}
	used := map[string]bool{} // the kept results this run restored or recorded
	if kept != nil {
		for _, p := range todo {
			keys[p.Name] = resultKey(p.ImageBuild, ids, p.inputs, req.ProjectRoot, store)
		}
	}
	if mode.Restore {
		// Images kept there under their key are loaded, not built.
		var restored []restoreItem
		if restored, todo, err = restoreKept(ctx, api, cache, kept, todo, keys, progress); err != nil {
			return nil, err
		}
		for _, r := range restored {
			img, err := imageEntry(ctx, api, r.ImageBuild, r.Kept.ID)
			if err != nil {
				return nil, err
			}
			images = append(images, img)
			next.Images[r.Name] = imageRecord{Key: imageKey(r.ImageBuild, ids), Inputs: r.inputs, Image: img}
			used[r.Key] = true
		}
	}

	var buildErr, keepErr error
	if len(todo) > 0 {
		var built map[string]builtImage
		built, buildErr = run.build(ctx, api, todo, roots, req, kept, mode.Keep, progress)
		// The images the builds start from may have been pulled meanwhile: their IDs now.
		builtIDs := ids
		if len(built) > 0 {
			if builtIDs, err = engine.TaggedIDs(ctx, api); err != nil {
				return nil, err
			}
		}
		now := time.Now().UTC()
		bases := map[string]string{}
		for _, p := range todo {
			b, ok := built[p.Name]
			if !ok {
				continue
			}
			img, err := imageEntry(ctx, api, p.ImageBuild, b.ID)
			if err != nil {
				return nil, err
			}
			images = append(images, img)
			next.Images[p.Name] = imageRecord{Key: imageKey(p.ImageBuild, builtIDs), Inputs: p.inputs, Image: img}
			if !b.Kept {
				continue
			}
			// Keyed with the bases' IDs of now, as the next run computes them.
			key := resultKey(p.ImageBuild, builtIDs, p.inputs, req.ProjectRoot, store)
			keepErr = errors.Join(keepErr, cache.record(kept, key, p.Name, b.ID, b.Manifest, now))
			used[key] = true
			for _, name := range p.From {
				if id := builtIDs[familiarName(name)]; id != "" {
					bases[name] = id
				}
			}
		}
		// On the containerd store a restore's load leaves out the layers of the bases the
		// engine has only when the layout knows their manifests (keepBases); the classic
		// store tells which layers it has by itself.
		if len(bases) > 0 && store == engine.ContainerdStore {
			if err := keepBases(ctx, api, kept, bases); err != nil {
				req.note(progress, fmt.Sprintf("builds: %s: %v (a restore then sends those layers too)", buildkit.CacheVariable, err))
			}
		}
	}
	if kept != nil && len(used) > 0 {
		r, err := pruneKept(kept, cache, req.BuildCache, used)
		switch {
		case err != nil:
			req.note(progress, fmt.Sprintf("builds: %v", err))
		case r.Dropped > 0 || r.Blobs > 0:
			fmt.Fprintf(progress, "builds: %s: kept %d results, removed %d older ones and %d blobs (%.1f MB) no kept image or cache uses\n",
				buildkit.CacheVariable, r.Kept, r.Dropped, r.Blobs, float64(r.Freed)/1e6)
		}
	}
	if err := writeImageState(statePath, next); err != nil {
		return nil, errors.Join(buildErr, err)
	}
	if buildErr != nil || keepErr != nil {
		return nil, errors.Join(buildErr, keepErr)
	}
	return images, nil
}

// imageEntry is the manifest entry of image b, built or restored with the engine ID id.
func imageEntry(ctx context.Context, api *engine.Engine, b ImageBuild, id string) (manifest.Image, error) {
	info, found, err := engine.Inspect(ctx, api, id)
	if err == nil && !found {
		err = fmt.Errorf("image %s is gone", id)
	}
	if err != nil {
		return manifest.Image{}, fmt.Errorf("inspect built image %s: %w", b.Name, err)
	}
	l, err := api.LocalOf(ctx, info)
	if err != nil {
		return manifest.Image{}, fmt.Errorf("inspect built image %s: %w", b.Name, err)
	}
	return manifest.Image{
		Name: b.Name, Digest: l.ID, Config: l.Config, DiffIDs: l.DiffIDs, Kind: b.Kind, Source: b.Source,
		Labels: b.Labels, Platform: platform(info),
	}, nil
}

// buildSummary is the line saying how many images are built, and why for the first few.
func buildSummary(total int, todo []pendingBuild) string {
	if len(todo) == 0 {
		return fmt.Sprintf("images: all %d unchanged, none to build", total)
	}
	var why []string
	for i, p := range todo {
		if i == 3 {
			why = append(why, fmt.Sprintf("and %d more", len(todo)-i))
			break
		}
		why = append(why, fmt.Sprintf("%s: %s", p.Name, p.reason))
	}
	return fmt.Sprintf("images: %d of %d to build (%s)", len(todo), total, strings.Join(why, "; "))
}

// familiarName is name as TaggedIDs keys it.
func familiarName(name string) string {
	if ref, err := engine.FamiliarRef(name); err == nil {
		return ref
	}
	return name
}
