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

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

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

	sent, omitted, retries atomic.Int64
}

type arrival struct {
	done    chan struct{}
	present bool // set before done is closed
}

// NewLoader loads from layout into the engine api.
func NewLoader(layout *Layout, api *engine.Engine) *Loader {
	return &Loader{layout: layout, api: api, layers: map[digest.Digest]*arrival{}}
}

// Layout is the layout the loader loads from.
func (ld *Loader) Layout() *Layout { return ld.layout }

// Sent is how many bytes of archives the loader sent to the engine; Omitted how many bytes of
// layers it left out because the engine had them.
func (ld *Loader) Sent() int64    { return ld.sent.Load() }
func (ld *Loader) Omitted() int64 { return ld.omitted.Load() }

// Retries is how many loads without the engine's layers failed and were sent again whole.
func (ld *Loader) Retries() int64 { return ld.retries.Load() }

// LoadResult is what one Load sent.
type LoadResult struct {
	Sent    int64 // bytes of archive the engine read (the last attempt's)
	Omitted int64 // bytes of layers left out because the engine had them
	Retried bool  // the archive without the engine's layers failed; the whole one was sent
}

// Load loads the images names (as the layout names them) into the engine, sending only the
// layers the engine lacks. Should that load fail (a layer the engine was thought to have is
// gone, say removed meanwhile), it is sent again once whole.
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
	var keys []digest.Digest
	for _, img := range imgs {
		keys = append(keys, layerKeys(img, ld.store)...)
	}
	claimed, err := ld.claim(ctx, keys)
	if err != nil {
		return LoadResult{}, err
	}
	loaded := false
	defer func() { ld.settle(claimed, keys, loaded) }()

	plan := planArchive(imgs, ld.store, func(k digest.Digest) bool { return !claimed[k] })
	res := LoadResult{Omitted: plan.OmittedBytes}
	res.Sent, err = ld.send(ctx, plan)
	if err != nil && len(plan.Omitted) > 0 && ctx.Err() == nil {
		ld.retries.Add(1)
		full := planArchive(imgs, ld.store, func(digest.Digest) bool { return false })
		var again int64
		again, err = ld.send(ctx, full)
		res = LoadResult{Sent: res.Sent + again, Retried: true}
		if err != nil {
			err = fmt.Errorf("%w (sent again with every layer after the load without %d layers the engine had failed)", err, len(plan.Omitted))
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
		have, ld.initErr = ld.presence(ctx)
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
func (ld *Loader) presence(ctx context.Context) ([]digest.Digest, error) {
	list, err := engine.List(ctx, ld.api)
	if err != nil {
		return nil, err
	}
	var have []digest.Digest
	if ld.store == engine.ContainerdStore {
		manifests, err := ld.layout.Manifests()
		if err != nil {
			return nil, err
		}
		byDigest := map[digest.Digest]ocispec.Descriptor{}
		for _, m := range manifests {
			byDigest[m.Digest] = m
		}
		for _, s := range list {
			m, ok := byDigest[digest.Digest(s.ID)]
			if !ok {
				continue
			}
			img, err := ld.layout.imageOf(m)
			if err != nil {
				continue // not one image: nothing known of its blobs
			}
			have = append(have, layerKeys(img, ld.store)...)
		}
		return have, nil
	}
	for _, s := range list {
		info, found, err := engine.Inspect(ctx, ld.api, s.ID)
		if err != nil {
			return nil, err
		}
		if !found {
			continue // removed meanwhile
		}
		var diffIDs []digest.Digest
		for _, l := range info.RootFS.Layers {
			diffIDs = append(diffIDs, digest.Digest(l))
		}
		have = append(have, layerKeys(Image{DiffIDs: diffIDs}, ld.store)...)
	}
	return have, nil
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
