package layerstore

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
)

// maxJSON bounds the small JSON files (manifests, configs) an Ingest keeps in memory.
const maxJSON = 16 << 20

// Saved is one image of an ingested archive: its config digest, tags, diffIDs and the layers'
// uncompressed sizes.
type Saved struct {
	Config   string
	RepoTags []string
	DiffIDs  []string
	Sizes    []int64
}

// ManifestItem is one entry of a docker-save manifest.json (a Docker format: image-spec has no
// word for it), declared once here: Ingest reads them from the engine's archives, package
// bundleimage writes them for the bundle, package inspect reads them back from one, package
// ocilayout writes them into its load archives.
type ManifestItem struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Ingest files the layers and configs of one `docker save` stream into the store, in either
// format: classic (`<v1id>/layer.tar`, `<config hex>.json`) or OCI layout (`blobs/sha256/…`),
// both with a manifest.json that may come last. Every layer is spooled to disk while its diffID is
// computed; a layer the store already holds is dropped, a new one is compressed by a pool of
// workers while the stream goes on. Feed it with Entry, then call Finish; Abort (safe to defer)
// cleans up after a failure.
type Ingest struct {
	store *Store
	c     Compression

	jsons  map[string][]byte // small JSON files by archive path
	layers map[string]string // archive path → diffID
	sizes  map[string]int64  // diffID → uncompressed size
	links  map[string]string // archive path → the path it links to
	items  []ManifestItem
	seen   bool // manifest.json read

	jobs    chan job
	wg      sync.WaitGroup
	mu      sync.Mutex
	pending map[string]bool // diffIDs being written by a worker
	err     error
	closed  bool
}

type job struct {
	spool  string
	diffID string
	src    Compression
}

// NewIngest starts an ingest into the store in compression c, with one compression worker per
// CPU.
func (s *Store) NewIngest(c Compression) *Ingest {
	in := &Ingest{
		store: s, c: c,
		jsons: map[string][]byte{}, layers: map[string]string{}, sizes: map[string]int64{}, links: map[string]string{},
		pending: map[string]bool{},
		// A short queue: when the workers fall behind, reading the stream waits, which bounds
		// the spooled bytes on disk.
		jobs: make(chan job, 1),
	}
	for range runtime.GOMAXPROCS(0) {
		in.wg.Add(1)
		go in.worker()
	}
	return in
}

// Entry handles one entry of the archive; it matches engine.SaveEach's callback.
func (in *Ingest) Entry(h *tar.Header, r io.Reader) error {
	if err := in.failed(); err != nil {
		return err
	}
	name := path.Clean(h.Name)
	switch h.Typeflag {
	case tar.TypeSymlink:
		// Classic `docker save` links a layer it already wrote: <v1id>/layer.tar → ../<v1id>/layer.tar.
		in.links[name] = path.Clean(path.Join(path.Dir(name), h.Linkname))
		return nil
	case tar.TypeLink:
		in.links[name] = path.Clean(h.Linkname)
		return nil
	case tar.TypeReg:
	default:
		return nil
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(512)
	if h.Size <= maxJSON && looksJSON(head) {
		data, err := io.ReadAll(br)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		in.jsons[name] = data
		if name == "manifest.json" {
			if err := json.Unmarshal(data, &in.items); err != nil {
				return fmt.Errorf("read manifest.json: %w", err)
			}
			in.seen = true
		}
		return nil
	}
	if !strings.HasSuffix(name, "/layer.tar") && !strings.HasPrefix(name, "blobs/") {
		return nil // VERSION, legacy v1 files
	}
	diffID, err := in.spool(name, br)
	if err != nil {
		return err
	}
	in.layers[name] = diffID
	return nil
}

func looksJSON(head []byte) bool {
	t := bytes.TrimLeft(head, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// spool copies one layer to a temporary file while hashing it. A compressed blob (an engine with
// the containerd image store exports layers as they were pulled) is hashed uncompressed too: the
// diffID is the digest of the uncompressed tar.
func (in *Ingest) spool(name string, br *bufio.Reader) (string, error) {
	head, _ := br.Peek(4)
	src := Detect(head)
	f, err := os.CreateTemp(in.tmpDir(), "spool-*")
	if err != nil {
		return "", fmt.Errorf("spool %s: %w", name, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := digest.Canonical.Digester()
	w := io.MultiWriter(f, h.Hash())
	var inner chan hashResult
	var pw *io.PipeWriter
	if src != None {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		inner = make(chan hashResult, 1)
		go func() {
			d, n, err := hashUncompressed(pr)
			pr.CloseWithError(err)
			inner <- hashResult{d, n, err}
		}()
		w = io.MultiWriter(f, h.Hash(), pw)
	}
	size, err := io.Copy(w, br)
	if pw != nil {
		pw.CloseWithError(err)
	}
	if err != nil {
		return "", fmt.Errorf("spool %s: %w", name, err)
	}
	diffID := h.Digest().String()
	if inner != nil {
		res := <-inner
		if res.err != nil {
			return "", fmt.Errorf("decompress %s: %w", name, res.err)
		}
		diffID, size = res.digest, res.size
	}
	in.sizes[diffID] = size
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("spool %s: %w", name, err)
	}
	done = true
	in.mu.Lock()
	have := in.pending[diffID] || (!in.store.Rewrite && exists(in.store.LayerPath(diffID, in.c)))
	if !have {
		in.pending[diffID] = true
	}
	in.mu.Unlock()
	if have {
		os.Remove(f.Name())
		return diffID, nil
	}
	in.jobs <- job{spool: f.Name(), diffID: diffID, src: src}
	return diffID, nil
}

type hashResult struct {
	digest string
	size   int64
	err    error
}

// hashUncompressed returns the digest and size of the decompressed r.
func hashUncompressed(r io.Reader) (string, int64, error) {
	zr, err := Decompress(r)
	if err != nil {
		return "", 0, err
	}
	defer zr.Close()
	h := digest.Canonical.Digester()
	n, err := io.Copy(h.Hash(), zr)
	if err != nil {
		return "", 0, err
	}
	// Drain what the decompressor left (trailing padding), or the spooling side would block.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return "", 0, err
	}
	return h.Digest().String(), n, nil
}

func (in *Ingest) tmpDir() string { return in.store.Dir + "/tmp" }

func (in *Ingest) worker() {
	defer in.wg.Done()
	for j := range in.jobs {
		if in.failed() != nil {
			os.Remove(j.spool)
			continue
		}
		if err := in.store.putLayer(j.spool, j.diffID, j.src, in.c); err != nil {
			in.fail(err)
		}
	}
}

// putLayer moves a spooled layer into the store as diffID in compression c: renamed when it is
// already in that form, otherwise (de)compressed into a new file. The spool is removed either way.
func (s *Store) putLayer(spool, diffID string, src, c Compression) error {
	defer os.Remove(spool)
	dest := s.LayerPath(diffID, c)
	if src == c {
		f, err := os.OpenFile(spool, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("store layer %s: %w", diffID, err)
		}
		err = f.Sync() // as atomicfile does: the rename must not publish unwritten data
		f.Close()
		if err == nil {
			err = os.Chmod(spool, 0o644)
		}
		if err == nil {
			err = os.Rename(spool, dest)
		}
		if err != nil {
			return fmt.Errorf("store layer %s: %w", diffID, err)
		}
		return nil
	}
	in, err := os.Open(spool)
	if err != nil {
		return fmt.Errorf("store layer %s: %w", diffID, err)
	}
	defer in.Close()
	var r io.Reader = in
	if src != None {
		zr, err := Decompress(in)
		if err != nil {
			return fmt.Errorf("store layer %s: %w", diffID, err)
		}
		defer zr.Close()
		r = zr
	}
	out, err := atomicfile.Create(dest, 0o644)
	if err != nil {
		return fmt.Errorf("store layer %s: %w", diffID, err)
	}
	defer out.Abort()
	bw := bufio.NewWriterSize(out.File, 1<<20)
	zw, err := c.NewWriter(bw)
	if err != nil {
		return fmt.Errorf("store layer %s: %w", diffID, err)
	}
	// The spool reads back as the diffID it was filed under, or nothing is stored.
	h := digest.Canonical.Digester()
	if _, err := io.Copy(zw, io.TeeReader(r, h.Hash())); err != nil {
		return fmt.Errorf("store layer %s: %w", diffID, err)
	}
	if got := h.Digest().String(); got != diffID {
		return fmt.Errorf("store layer %s: the spooled copy reads back as %s (a disk error?): run the save stage again", diffID, got)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("store layer %s: %w", diffID, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("store layer %s: %w", diffID, err)
	}
	return out.Commit()
}

func (in *Ingest) fail(err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.err == nil {
		in.err = err
	}
}

func (in *Ingest) failed() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

func (in *Ingest) close() {
	if !in.closed {
		in.closed = true
		close(in.jobs)
		in.wg.Wait()
	}
}

// Abort stops the workers after a failure. Finished layers stay in the store (each is complete
// and content-addressed); no image record is written, so nothing looks exported.
func (in *Ingest) Abort() { in.close() }

// Finish waits for the workers, checks every image of the archive against its config (each
// layer's digest must be the config's diffID) and stores the configs. It returns the images.
func (in *Ingest) Finish() ([]Saved, error) {
	in.close()
	if err := in.failed(); err != nil {
		return nil, err
	}
	if !in.seen {
		return nil, errors.New("the archive has no manifest.json")
	}
	var out []Saved
	for _, item := range in.items {
		cfgName := path.Clean(item.Config)
		cfg, ok := in.jsons[in.resolve(cfgName)]
		if !ok {
			return nil, fmt.Errorf("the archive lacks the config %s", item.Config)
		}
		var parsed struct {
			RootFS ocispec.RootFS `json:"rootfs"`
		}
		if err := json.Unmarshal(cfg, &parsed); err != nil {
			return nil, fmt.Errorf("read config %s: %w", item.Config, err)
		}
		diffIDs := make([]string, len(parsed.RootFS.DiffIDs))
		for i, d := range parsed.RootFS.DiffIDs {
			diffIDs[i] = d.String()
		}
		if len(diffIDs) != len(item.Layers) {
			return nil, fmt.Errorf("config %s lists %d layers, manifest.json %d", item.Config, len(diffIDs), len(item.Layers))
		}
		for i, l := range item.Layers {
			p := in.resolve(path.Clean(l))
			got, ok := in.layers[p]
			if !ok {
				data, isJSON := in.jsons[p]
				if !isJSON {
					return nil, fmt.Errorf("the archive lacks layer %s of %s", l, item.Config)
				}
				// A tiny layer whose first file name starts like JSON: store it from memory.
				var err error
				if got, err = in.putSmall(data); err != nil {
					return nil, err
				}
				in.layers[p] = got
			}
			if got != diffIDs[i] {
				return nil, fmt.Errorf("layer %s of %s has digest %s, its config says %s", l, item.Config, got, diffIDs[i])
			}
		}
		config := digest.FromBytes(cfg).String()
		if !exists(in.store.ConfigPath(config)) {
			if err := atomicfile.Write(in.store.ConfigPath(config), cfg, 0o644); err != nil {
				return nil, fmt.Errorf("store config %s: %w", config, err)
			}
		}
		sizes := make([]int64, len(diffIDs))
		for i, d := range diffIDs {
			sizes[i] = in.sizes[d]
		}
		out = append(out, Saved{Config: config, RepoTags: item.RepoTags, DiffIDs: diffIDs, Sizes: sizes})
	}
	return out, nil
}

func (in *Ingest) resolve(p string) string {
	for i := 0; i < 8; i++ { // links to links, but never a loop
		target, ok := in.links[p]
		if !ok {
			return p
		}
		p = target
	}
	return p
}

func (in *Ingest) putSmall(data []byte) (string, error) {
	f, err := os.CreateTemp(in.tmpDir(), "spool-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("spool a small layer: %w", err)
	}
	src := Detect(data)
	var diffID string
	size := int64(len(data))
	if src == None {
		diffID = digest.FromBytes(data).String()
	} else if diffID, size, err = hashUncompressed(bytes.NewReader(data)); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	in.sizes[diffID] = size
	if exists(in.store.LayerPath(diffID, in.c)) {
		os.Remove(f.Name())
		return diffID, nil
	}
	return diffID, in.store.putLayer(f.Name(), diffID, src, in.c)
}
