package ocilayout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	imagetypes "github.com/docker/docker/api/types/image"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/dindbundler/dindbundler/internal/engine"
)

// Loader loads images of a layout into one engine, sending each layer the engine lacks once per
// run. What the engine has is asked once, at the first load (presence), and kept up to date as
// loads succeed; a load that needs a layer another load is bringing waits for that load instead
// of sending the layer too. Use one Loader per engine and run; it is safe for concurrent use.
type Loader struct {
	layout *Layout
	api    *engine.Engine

	once    sync.Once
	store   engine.ImageStore
	initErr error

	mu sync.Mutex
	// layers are the layer keys (layerKeys) the engine has (a closed channel) or that a load
	// in flight brings (open until it ends; then present or forgotten).
	layers map[digest.Digest]*arrival

	// checked: the engine tells after a load whether the loaded images have all their blobs
	// (the containerd store of Engine 28 or later, engine.TellsManifests); every load that left
	// layers out is checked (complete), and sent again when it lacks one (Load).
	checked bool
	// chains are the chain IDs of the layers of the engine's other images (those whose
	// manifest the layout lacks: a base the engine pulled, say), kept only when checked: a layer
	// of an image to load whose chain is one of them is probably in the engine as the very blob
	// the layout has (the same base pulled from the same registry), and is left out (assume).
	chains map[digest.Digest]bool
	// assumed are the keys present in layers by assumption alone (not yet confirmed by a checked
	// load that left them out), refuted those a check showed the engine lacks: never assumed again.
	assumed, refuted map[digest.Digest]bool

	sent, omitted, retries atomic.Int64
}

type arrival struct {
	done    chan struct{}
	present bool // set before done is closed
}

// NewLoader loads from layout into the engine api.
func NewLoader(layout *Layout, api *engine.Engine) *Loader {
	return &Loader{layout: layout, api: api, layers: map[digest.Digest]*arrival{},
		assumed: map[digest.Digest]bool{}, refuted: map[digest.Digest]bool{}}
}

// Layout is the layout the loader loads from.
func (ld *Loader) Layout() *Layout { return ld.layout }

// Sent is how many bytes of archives the loader sent to the engine; Omitted how many bytes of
// layers it left out because the engine had them.
func (ld *Loader) Sent() int64    { return ld.sent.Load() }
func (ld *Loader) Omitted() int64 { return ld.omitted.Load() }

// Retries is how many loads without the engine's layers failed, or left an image without a
// blob, and were sent again: whole, or with the layers wrongly assumed in the engine.
func (ld *Loader) Retries() int64 { return ld.retries.Load() }

// LoadResult is what one Load sent.
type LoadResult struct {
	Sent    int64 // bytes of archive the engine read (the last attempt's)
	Omitted int64 // bytes of layers left out because the engine had them
	// Retried: the archive without the engine's layers failed, or left an image without one
	// of them; it was sent again, whole or with the layers wrongly assumed in the engine.
	Retried bool
}

// Load loads the images names (as the layout names them) into the engine, sending only the
// layers the engine lacks. Should that load fail (a layer the engine was thought to have is
// gone, say removed meanwhile), or leave an image without a blob on an engine that tells
// (checked), it is sent again once whole — except that a load lacking blobs it only assumed
// the engine had (assume) first goes again with those layers claimed as any missing layer is:
// loads at once then bring each of them once, not every one of them its whole image.
func (ld *Loader) Load(ctx context.Context, names ...string) (LoadResult, error) {
	if err := ld.init(ctx); err != nil {
		return LoadResult{}, err
	}
	var imgs []Image
	for _, n := range names {
		img, err := ld.layout.Image(n)
		if err != nil {
			return LoadResult{}, err
		}
		imgs = append(imgs, img)
	}
	res, err := ld.attempt(ctx, imgs, false)
	if errors.Is(err, errAssumedWrong) {
		ld.retries.Add(1)
		var again LoadResult
		again, err = ld.attempt(ctx, imgs, true)
		res = LoadResult{Sent: res.Sent + again.Sent, Omitted: again.Omitted, Retried: true}
	}
	return res, err
}

// errAssumedWrong: a load left out layers the loader assumed the engine had, and the check
// after it found the image without one of them; those assumptions are dropped (refute).
var errAssumedWrong = errors.New("a layer assumed in the engine is not there as the layout's blob")

// attempt is one load of imgs without the layers the engine has (or is thought or assumed to
// have), checked when the engine tells, and sent again whole when it fails or lacks a blob;
// unless last, errAssumedWrong instead when what it lacks may be blobs assumed there.
func (ld *Loader) attempt(ctx context.Context, imgs []Image, last bool) (LoadResult, error) {
	var keys []digest.Digest
	for _, img := range imgs {
		keys = append(keys, layerKeys(img, ld.store)...)
	}
	ld.assume(imgs)
	claimed, err := ld.claim(ctx, keys)
	if err != nil {
		return LoadResult{}, err
	}
	loaded, settled := false, keys
	defer func() { ld.settle(claimed, settled, loaded) }()

	plan := planArchive(imgs, ld.store, func(k digest.Digest) bool { return !claimed[k] })
	res := LoadResult{Omitted: plan.OmittedBytes}
	res.Sent, err = ld.send(ctx, plan)
	if err == nil && len(plan.Omitted) > 0 && ld.checked {
		if err = ld.complete(ctx, imgs); err == nil {
			ld.confirm(plan.Omitted)
		} else if errors.Is(err, errIncomplete) && ld.refute(plan.Omitted) && !last {
			// The claimed layers arrived; the others are claimed again by the next attempt.
			loaded, settled = true, nil
			ld.sent.Add(res.Sent)
			return LoadResult{Sent: res.Sent}, fmt.Errorf("%w: %w", errAssumedWrong, err)
		}
	}
	if err != nil && len(plan.Omitted) > 0 && ctx.Err() == nil {
		ld.retries.Add(1)
		full := planArchive(imgs, ld.store, func(digest.Digest) bool { return false })
		var again int64
		again, err = ld.send(ctx, full)
		res = LoadResult{Sent: res.Sent + again, Retried: true}
		if err != nil {
			err = fmt.Errorf("%w (sent again with every layer after the load without %d layers the engine was thought to have failed)", err, len(plan.Omitted))
		}
	}
	ld.sent.Add(res.Sent)
	ld.omitted.Add(res.Omitted)
	if err != nil {
		return res, err
	}
	loaded = true
	return res, nil
}

// send streams plan's archive into the engine and returns how many bytes it read.
func (ld *Loader) send(ctx context.Context, plan archivePlan) (int64, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeArchive(pw, ld.layout, plan)) }()
	r := &countingReader{r: pr}
	err := engine.Load(ctx, ld.api, r, nil)
	pr.CloseWithError(errLoadOver) // the writer stops if the engine stopped reading early
	if err != nil {
		var what []string
		for _, img := range plan.Images {
			what = append(what, img.Name)
		}
		return r.n, loadError(what, ld.layout.dir, ld.api.DaemonHost(), r.n, err)
	}
	return r.n, nil
}

// loadError says that the engine at host failed to load images from the layout at dir after
// reading sent bytes of their archive.
func loadError(images []string, dir, host string, sent int64, err error) error {
	why := "its log says why"
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		// An engine that refuses a load answers with its reason and closes the connection
		// without reading the rest; Go's HTTP client then reports the broken connection, not
		// the answer (net/http Transport: a write error wins over the response).
		why = "the engine closed the connection, and its answer is lost: its log says why"
	}
	return fmt.Errorf("load %s from the OCI layout %s into the engine at %s, which stopped after %.1f MB of the archive "+
		"(%s, e.g. a full disk or a restart; then build again): %w", strings.Join(images, ", "), dir, host, float64(sent)/1e6, why, err)
}

var errLoadOver = errors.New("the load is over")

// init asks the engine once which store it has and which layers.
func (ld *Loader) init(ctx context.Context) error {
	ld.once.Do(func() {
		ld.store, ld.initErr = ld.api.Store(ctx)
		if ld.initErr != nil {
			return
		}
		var have []digest.Digest
		have, ld.chains, ld.checked, ld.initErr = ld.presence(ctx)
		ld.mu.Lock()
		for _, k := range have {
			ld.layers[k] = presentArrival()
		}
		ld.mu.Unlock()
	})
	if ld.initErr != nil {
		return fmt.Errorf("ask the engine at %s which layers it has: %w", ld.api.DaemonHost(), ld.initErr)
	}
	return nil
}

func presentArrival() *arrival {
	a := &arrival{done: make(chan struct{}), present: true}
	close(a.done)
	return a
}

// presence is the layer keys the engine has: on the classic store the chain IDs of every
// image's layers (inspect: RootFS.Layers); on the containerd store the layer blobs of the
// engine's images whose manifests the layout knows (an image's ID there is its manifest digest;
// the engine does not list an image's blobs, and a blob of an image it holds stays in its
// content store).
//
// An image of the containerd store whose manifest the layout lacks (a base the engine pulled:
// its ID is the registry's index digest) has layers with the same diffIDs as the layout's
// images built on it, but the store keeps blobs, and a blob of the same diffID may be compressed
// otherwise than the layout's. Only an engine that tells after a load whether the image has all
// its blobs (checked: Engine 28 or later) is told such an image's chains, which Load then
// assumes; that engine also lists each image's manifests, and those the layout holds count as
// the exact ones do. An older engine on the containerd store is told nothing of them: their
// layers go in with the run's first load that needs them, as before.
//
// Why a check and not a failed load: containerd's import (archive.ImportIndex, then the
// client's Import, containerd v2.1) ingests the archive's files and walks index.json's
// manifests only, never reading a layer blob or asking whether the store has it, and moby's
// LoadImage (Engine 28.5) then unpacks the image; containerd's unpack skips every layer whose
// chain the snapshotter has, without reading its blob. So an archive leaving out a blob the
// engine does not have loads, and its image even runs (from the snapshots), but lacks the blob:
// a later `docker save` leaves it out without a word (moby's export skips missing content), a
// push fails. Image inspect's Manifests (Available) is containerd's images.Check of the blobs.
func (ld *Loader) presence(ctx context.Context) (have []digest.Digest, chains map[digest.Digest]bool, checked bool, err error) {
	list, err := engine.List(ctx, ld.api)
	if err != nil {
		return nil, nil, false, err
	}
	if ld.store == engine.ContainerdStore {
		return ld.containerdPresence(ctx, list)
	}
	for _, s := range list {
		info, found, err := engine.Inspect(ctx, ld.api, s.ID)
		if err != nil {
			return nil, nil, false, err
		}
		if !found {
			continue // removed meanwhile
		}
		have = append(have, layerKeys(Image{DiffIDs: digests(info.RootFS.Layers)}, ld.store)...)
	}
	return have, nil, false, nil
}

// containerdPresence is presence on the containerd store, for the engine's images list.
func (ld *Loader) containerdPresence(ctx context.Context, list []imagetypes.Summary) (have []digest.Digest, chains map[digest.Digest]bool, checked bool, err error) {
	manifests, err := ld.layout.Manifests()
	if err != nil {
		return nil, nil, false, err
	}
	byDigest := map[digest.Digest]ocispec.Descriptor{}
	for _, m := range manifests {
		byDigest[m.Digest] = m
	}
	// The keys of the layout's image m, when the engine holds all of it.
	known := func(m ocispec.Descriptor) []digest.Digest {
		img, err := ld.layout.imageOf(m)
		if err != nil {
			return nil // not one image: nothing known of its blobs
		}
		return layerKeys(img, ld.store)
	}
	var others []string
	for _, s := range list {
		if m, ok := byDigest[digest.Digest(s.ID)]; ok {
			have = append(have, known(m)...)
		} else {
			others = append(others, s.ID)
		}
	}
	// Asked after List, which settled the API version.
	checked = engine.TellsManifests(ld.api)
	if !checked {
		return have, nil, false, nil
	}
	chains = map[digest.Digest]bool{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4) // an inspect of the containerd store walks the image's content: a few at once
	for _, id := range others {
		g.Go(func() error {
			info, found, err := engine.InspectManifests(gctx, ld.api, id)
			if err != nil || !found { // not found: removed meanwhile
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, c := range identity.ChainIDs(digests(info.RootFS.Layers)) {
				chains[c] = true
			}
			for _, m := range info.Manifests {
				if l, ok := byDigest[digest.Digest(m.ID)]; ok && m.Available {
					have = append(have, known(l)...)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, false, err
	}
	return have, chains, true, nil
}

func digests(ss []string) []digest.Digest {
	ds := make([]digest.Digest, len(ss))
	for i, s := range ss {
		ds[i] = digest.Digest(s)
	}
	return ds
}

// assume counts as present the layers of imgs that the engine probably has (probableLayers of
// its chains) and of which nothing is known yet.
func (ld *Loader) assume(imgs []Image) {
	if len(ld.chains) == 0 {
		return
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	for _, img := range imgs {
		for _, k := range probableLayers(img, ld.chains) {
			if _, ok := ld.layers[k]; !ok && !ld.refuted[k] {
				ld.layers[k] = presentArrival()
				ld.assumed[k] = true
			}
		}
	}
}

// confirm: a checked load left out omitted, and its images have all their blobs: the assumed
// ones among them are known now.
func (ld *Loader) confirm(omitted []digest.Digest) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	for _, k := range omitted {
		delete(ld.assumed, k)
	}
}

// refute drops the assumptions among omitted, the layers a load left out whose images the check
// then found without a blob, and reports whether any of them was assumed (by this load, or by
// one at the same time that refuted it first): the next attempt claims them, or waits for the
// load bringing them.
func (ld *Loader) refute(omitted []digest.Digest) bool {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	found := false
	for _, k := range omitted {
		if ld.assumed[k] {
			delete(ld.assumed, k)
			delete(ld.layers, k) // a present arrival: nobody waits on it
			ld.refuted[k] = true
		}
		found = found || ld.refuted[k]
	}
	return found
}

// probableLayers are the blob digests of img's layers whose chain (the layer and every layer
// beneath it) is one of chains: the engine has those layers' content, probably as these blobs.
func probableLayers(img Image, chains map[digest.Digest]bool) []digest.Digest {
	var out []digest.Digest
	for i, c := range identity.ChainIDs(append([]digest.Digest(nil), img.DiffIDs...)) {
		if chains[c] && i < len(img.Layers) {
			out = append(out, img.Layers[i].Digest)
		}
	}
	return out
}

// complete checks, after a load that left layers out, that the engine holds every blob of
// imgs: an image lacking one is an error (errIncomplete), for Load to send it again.
func (ld *Loader) complete(ctx context.Context, imgs []Image) error {
	for _, img := range imgs {
		info, found, err := engine.InspectManifests(ctx, ld.api, img.Name)
		if err != nil {
			return err
		}
		if !found || !availableManifest(info.Manifests, img.Manifest.Digest) {
			return fmt.Errorf("load %s into the engine at %s: %w", img.Name, ld.api.DaemonHost(), errIncomplete)
		}
	}
	return nil
}

// errIncomplete: a loaded image lacks a blob the archive left out.
var errIncomplete = errors.New("the image lacks a layer blob left out of its archive (the engine had the layer's content, but not as that blob)")

// availableManifest reports whether manifests (image inspect's) has the manifest m with all its
// blobs.
func availableManifest(manifests []imagetypes.ManifestSummary, m digest.Digest) bool {
	for _, s := range manifests {
		if digest.Digest(s.ID) == m {
			return s.Available
		}
	}
	return false
}

// claim waits until no other load is bringing one of keys, then claims those the engine lacks:
// they are this load's to send (true in the result).
func (ld *Loader) claim(ctx context.Context, keys []digest.Digest) (map[digest.Digest]bool, error) {
	for {
		ld.mu.Lock()
		var wait *arrival
		for _, k := range keys {
			if a, ok := ld.layers[k]; ok && !a.present {
				wait = a
				break
			}
		}
		if wait == nil {
			claimed := map[digest.Digest]bool{}
			for _, k := range keys {
				if _, ok := ld.layers[k]; !ok {
					ld.layers[k] = &arrival{done: make(chan struct{})}
					claimed[k] = true
				}
			}
			ld.mu.Unlock()
			return claimed, nil
		}
		ld.mu.Unlock()
		select {
		case <-wait.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// settle ends a load: its claimed keys are present when it loaded, else forgotten (a later load
// sends them); either way the loads waiting for them go on. A load that succeeded also made
// every key of its images present.
func (ld *Loader) settle(claimed map[digest.Digest]bool, keys []digest.Digest, loaded bool) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	for k := range claimed {
		a := ld.layers[k]
		if loaded {
			a.present = true
		} else {
			delete(ld.layers, k)
		}
		close(a.done)
	}
	if loaded {
		for _, k := range keys {
			if _, ok := ld.layers[k]; !ok {
				ld.layers[k] = presentArrival()
			}
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
