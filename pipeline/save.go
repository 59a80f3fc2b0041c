package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

// Save files every manifest image in the layer store (BUILD_DIR/layers) and writes the set the
// bundle is made of. Only images whose IDs the store does not hold completely are exported, with
// one `docker save`; their layers stream into the store, each kept once by its diffID and
// compressed once.
func (b *Bundler) Save(ctx context.Context) error {
	m, err := b.readMerged()
	if err != nil {
		return err
	}
	api, err := b.docker()
	if err != nil {
		return err
	}
	names := m.Names()
	locals, missing, err := api.Locals(ctx, names)
	if err != nil {
		return err
	}
	// What the inspect tells is checked now, before an export; on the containerd store only the
	// export tells the config digest, so the set is checked again below.
	if err := checkImages(m, seenLocal(locals), missing); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	ids := make(map[string]string, len(locals))
	for n, l := range locals {
		ids[n] = l.ID
	}
	store, err := layerstore.Open(b.storeDir())
	if err != nil {
		return err
	}
	p, err := b.planSave(names, ids, store)
	if err != nil {
		return err
	}
	p.Do = func(ctx context.Context) error { return b.saveImages(ctx, api, m, ids, store, p.Decision) }
	return b.carry(ctx, "save", p)
}

// saveImages files the images whose IDs the layer store lacks (all of them with FORCE) and
// writes the set (the Save stage's work).
func (b *Bundler) saveImages(ctx context.Context, api client.APIClient, m manifest.Manifest, ids map[string]string, store *layerstore.Store, d fresh.Decision) error {
	names := m.Names()
	compression := layerstore.Compression(b.Config.Compression) // checked by config.Load
	if err := fresh.RemoveState(b.statePath("save")); err != nil {
		return err
	}
	idList := make([]string, 0, len(names))
	for _, n := range names {
		idList = append(idList, ids[n])
	}
	found, absent, err := store.Lookup(idList, compression)
	if err != nil {
		return err
	}
	if len(found) > 0 && !b.Config.Force {
		// Stored images are reused only when intact; a damaged file is removed and its image
		// exported again below.
		reused := layerstore.Set{Compression: compression}
		for _, img := range found {
			reused.Images = append(reused.Images, img)
		}
		if err := store.VerifySet(reused); err != nil {
			b.logf("save: %v", err)
			if found, absent, err = store.Lookup(idList, compression); err != nil {
				return err
			}
		}
	}
	if b.Config.Force {
		// FORCE ignores every cache, the layer store's too.
		store.Rewrite = true
		found, absent = map[string]layerstore.Image{}, idList
	}
	if len(absent) > 0 {
		want := saveWants(names, ids, absent)
		b.logf("save: exporting %d of %d images into %s, %s", len(want), len(names), store.Dir, d.Reason)
		exported, err := store.Export(ctx, api, want, compression, b.progress(), 0) // docker save announces no size
		if err != nil {
			return err
		}
		for _, img := range exported {
			found[img.ID] = img
		}
	} else {
		b.logf("save: all %d images are in %s already, %s", len(names), store.Dir, d.Reason)
	}
	set := layerstore.Set{Compression: compression}
	for _, n := range names {
		img := found[ids[n]]
		img.Name = n
		set.Images = append(set.Images, img)
	}
	if err := checkImages(m, seenSet(set), nil); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := layerstore.WriteSet(b.setPath(), set); err != nil {
		return err
	}
	return fresh.WriteState(b.statePath("save"), fresh.State{Settings: b.saveSettings(names), Images: ids})
}

// saveWants lists, once per image ID in absent, one name to export it by.
func saveWants(names []string, ids map[string]string, absent []string) []layerstore.Want {
	need := map[string]bool{}
	for _, id := range absent {
		need[id] = true
	}
	var want []layerstore.Want
	for _, n := range names {
		if id := ids[n]; need[id] {
			want = append(want, layerstore.Want{Name: n, ID: id})
			need[id] = false
		}
	}
	return want
}

// saveSettings are what decides the saved set besides the images' IDs, by name.
func (b *Bundler) saveSettings(names []string) map[string]string {
	sorted := append([]string{}, names...)
	sort.Strings(sorted)
	return fresh.SettingHashes(map[string]string{
		"BUNDLE_COMPRESSION":            b.Config.Compression,
		"the manifest's list of images": strings.Join(sorted, "\n"),
	})
}

// planSave is the Save stage's decision: the set is fresh when it was written after the merged
// manifest, from the same settings and image IDs, and the layer store still holds every file it
// names intact. With ids nil (a dry run: the daemon is not asked) the image IDs are not compared
// and the store's files are not read, only looked for; the plan says so. Its work is left to the
// caller (Do).
func (b *Bundler) planSave(names []string, ids map[string]string, store *layerstore.Store) (fresh.Plan, error) {
	out := b.setPath()
	manifestPath := b.Config.MergedManifestPath()
	p := fresh.Plan{Inputs: []string{manifestPath, out, store.Dir},
		Work: fmt.Sprintf("export those of %d images whose IDs the layer store lacks", len(names))}
	exists, mod, err := fresh.Output(out)
	if err != nil {
		return p, err
	}
	state, err := fresh.ReadState(b.statePath("save"))
	if err != nil {
		return p, err
	}
	_, manifestTime, err := fresh.Output(manifestPath)
	if err != nil {
		return p, err
	}
	facts := fresh.Facts{
		Force: b.Config.Force, Output: out, OutputExists: exists, OutputTime: mod,
		NewestInput: manifestPath, NewestInputTime: manifestTime,
		RecordedSettings: state.Settings, CurrentSettings: b.saveSettings(names),
	}
	if ids != nil {
		facts.Recorded, facts.Current = state.Images, ids
		if facts.Recorded == nil {
			facts.Recorded = map[string]string{}
		}
	} else {
		p.Pending = fmt.Sprintf("the daemon's image IDs of the %d images and the stored files' contents", len(names))
	}
	p.Decision = fresh.Decide(facts)
	if !p.Fresh {
		return p, nil
	}
	// The set is only as good as the store files it names: present, and each of the digest it
	// is filed under (VerifySet reads only files whose signature changed since they were last
	// found intact, and removes a damaged one, so the export makes it again: not in a dry run).
	set, err := layerstore.ReadSet(out)
	if err != nil || !store.CompleteSet(set) {
		p.Decision = fresh.Decision{Fresh: false, Reason: "the layer store " + store.Dir + " lacks files or layer sizes of " + out}
		return p, nil
	}
	if ids == nil {
		return p, nil
	}
	if err := store.VerifySet(set); err != nil {
		b.logf("save: %v", err)
		p.Decision = fresh.Decision{Fresh: false, Reason: "a file of the layer store " + store.Dir + " was damaged"}
	}
	return p, nil
}

func (b *Bundler) storeDir() string { return b.Config.Layout().Layers() }

// setPath is the Save stage's output: the images of the bundle and their layers.
func (b *Bundler) setPath() string {
	return b.Config.Layout().ImageSet()
}

// readSet reads the Save stage's set and checks it against the manifest, the compression and
// the store: Image must never bundle images other than the manifest's.
func (b *Bundler) readSet(m manifest.Manifest) (layerstore.Set, *layerstore.Store, error) {
	again := "run the save stage first (go run magefile.go save)"
	set, err := layerstore.ReadSet(b.setPath())
	if err != nil {
		return set, nil, fmt.Errorf("image: the images of the bundle (%s) are not ready: %w; %s", b.setPath(), err, again)
	}
	if string(set.Compression) != b.Config.Compression {
		return set, nil, fmt.Errorf("image: the saved images are compressed as %s, BUNDLE_COMPRESSION is %s: %s", set.Compression, b.Config.Compression, again)
	}
	var problems []error
	inSet := seenSet(set)
	for _, img := range m.Images {
		seen, ok := inSet[img.Name]
		switch {
		case !ok:
			problems = append(problems, fmt.Errorf("image %s is not among the saved images", img.Name))
		case img.Digest != "":
			if err := img.Check(seen); err != nil {
				problems = append(problems, fmt.Errorf("image %s was saved as %s (config %s), not as the manifest says: %w", img.Name, seen.ID, seen.Config, err))
			}
		}
		delete(inSet, img.Name)
	}
	for name := range inSet {
		problems = append(problems, fmt.Errorf("image %s was saved but is not in the manifest", name))
	}
	if err := errors.Join(problems...); err != nil {
		return set, nil, fmt.Errorf("image: %w; %s", err, again)
	}
	store, err := layerstore.Open(b.storeDir())
	if err != nil {
		return set, nil, err
	}
	if !store.CompleteSet(set) {
		return set, nil, fmt.Errorf("image: the layer store %s lacks files or layer sizes of the saved images; %s", store.Dir, again)
	}
	if err := store.VerifySet(set); err != nil {
		return set, nil, fmt.Errorf("image: %w", err)
	}
	return set, store, nil
}

// seenLocal and seenSet give checkImages what the engine and the Save stage's set tell.
func seenLocal(locals map[string]engine.Local) map[string]manifest.Seen {
	out := make(map[string]manifest.Seen, len(locals))
	for n, l := range locals {
		out[n] = manifest.Seen(l)
	}
	return out
}

func seenSet(set layerstore.Set) map[string]manifest.Seen {
	out := make(map[string]manifest.Seen, len(set.Images))
	for _, img := range set.Images {
		out[img.Name] = manifest.Seen{ID: img.ID, Config: img.Config, DiffIDs: img.DiffIDs}
	}
	return out
}

// identified is m as the bundle carries it: every image with its store-independent identity (the
// config digest and diffIDs the Save stage exported), which the entrypoint verifies.
func identified(m manifest.Manifest, set layerstore.Set) manifest.Manifest {
	seen := seenSet(set)
	images := make([]manifest.Image, len(m.Images))
	for i, img := range m.Images {
		if s, ok := seen[img.Name]; ok {
			img.Config, img.DiffIDs = s.Config, s.DiffIDs
		}
		images[i] = img
	}
	m.Images = images
	return m
}
