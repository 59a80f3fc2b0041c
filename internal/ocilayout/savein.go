package ocilayout

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// This file brings an image into the layout from another engine's `docker save`: how the images
// a Docker engine on the classic image store builds (a BUILDERS docker+ entry: its BuildKit has
// only the moby exporter, so it can only store into that engine) reach the bundling engine
// through a Loader, as a buildkitd's do, with only the layers the bundling engine lacks.
//
// The save itself is whole: every layer of the image crosses from that engine to this machine,
// because Docker has no partial save (the engine takes no list of layers to leave out, and knows
// nothing of this machine's layout). It is streamed, never held: each blob goes into the
// layout's content store as it arrives (an ingest file renamed into blobs/ once its digest
// checks); a blob the layout has already is not written again.
//
// Two formats, both read from the same stream:
//
//   - Engine ≥ 25 (moby image/tarexport save.go) writes an OCI layout: oci-layout, index.json
//     naming the image (io.containerd.image.name), and blobs/sha256/… holding its manifest, its
//     config and its layers as uncompressed tars (media type application/vnd.oci.image.layer.v1.tar,
//     digest = diffID), plus manifest.json. The engine's manifest is taken as it is; a blob the
//     layout has is skipped unread (its name is its digest).
//   - Older engines (Engine 20.10) write only the legacy format: manifest.json, the config as
//     <image ID hex>.json, each layer as <v1 id>/layer.tar (a layer saved twice is a symlink to
//     the first), and v1 files (json, VERSION, repositories) that are not needed. There is no
//     manifest: one is made here (legacyManifest), OCI media types over the config and the layer
//     tars, each tar's sha256 checked against the config's diffID — the manifest an Engine ≥ 25
//     writes for the same image, byte for byte, so both give the same manifest digest. A layer
//     tar's digest is known only once it is read: it is hashed on its way into the layout's
//     ingest area and dropped there when the layout has it (its blob file is not rewritten).
//
// What this means for the bundling engine (Loader, archive.go):
//
//   - classic store: layers are known by chain ID, whatever blob they came in. A layer the
//     engine has from anywhere (the base it was given, a buildkitd's gzip blob of the same
//     layer) is left out of the load.
//   - containerd store: layers are known by blob digest, and the blobs made here are
//     uncompressed, so their digests are the diffIDs; BuildKit's gzip blob of the same layer
//     (a buildkitd's, a containerd-store builder's) has another digest. A layer is left out when
//     the engine holds that uncompressed blob in an image whose manifest the layout knows: an
//     image brought this way before (this run or an earlier one, the layout is kept), or any
//     image of the layout with the same uncompressed layer. The first image over a base the
//     engine got otherwise (pulled: gzip blobs; loaded from a legacy archive: a manifest made by
//     the engine) carries that base once before Engine 28; the images after it in the run, and
//     later runs, do not. From Engine 28 the loader's presence assumes such a base by chain ID and
//     checks the load (load.go), so it does not cross even once when the engine's blobs match.
//     Both the gzip and the uncompressed blob of a layer may then be in the engine's content
//     store; its snapshot (by chain ID) is unpacked once.

// Saved is what IngestSave brought into the layout.
type Saved struct {
	Image Image // as the layout names it now
	// Legacy says the engine wrote only the legacy format (before Engine 25): the image's
	// manifest was made here.
	Legacy bool
	// Read is the bytes of the files the save carried (every layer: the save is whole);
	// Written the bytes of those that were new to the layout.
	Read, Written int64
}

// IngestSave brings the image name from the engine api into the layout through one streamed
// `docker save` and names it name there, for a Loader to load into another engine. where names
// that engine in messages (a BUILDERS entry: over ssh the client's address says nothing); ""
// is "the engine at" its address.
func (l *Layout) IngestSave(ctx context.Context, api *engine.Engine, where, name string) (Saved, error) {
	if where == "" {
		where = "the engine at " + api.DaemonHost()
	}
	what := fmt.Sprintf("bring %s from %s into the OCI layout %s", name, where, l.dir)
	in, err := l.newSaveIngest(ctx)
	if err != nil {
		return Saved{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := engine.SaveEach(ctx, api, []string{name}, in.entry); err != nil {
		return Saved{}, fmt.Errorf("%s: %w (does that engine have the image, and does it answer? A save that broke off leaves only whole blobs in the layout: build again)", what, err)
	}
	saved, err := in.finish(name)
	if err != nil {
		return Saved{}, fmt.Errorf("%s: %w", what, err)
	}
	return saved, nil
}

// saveIngest takes the entries of one `docker save` stream into a layout.
type saveIngest struct {
	ctx    context.Context
	layout *Layout
	store  content.Store
	ref    string // the prefix of this ingest's refs for blobs of unknown digest: no two ingests share one
	refs   int
	files  savedFiles
	read   int64
	// written is the bytes of blobs this ingest added to the layout.
	written int64
}

func (l *Layout) newSaveIngest(ctx context.Context) (*saveIngest, error) {
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	return &saveIngest{ctx: ctx, layout: l, store: l.Store(), ref: "dindbundler-save-" + hex.EncodeToString(id[:]),
		files: savedFiles{Configs: map[string][]byte{}, Blobs: map[string]ocispec.Descriptor{}, Links: map[string]string{}}}, nil
}

// maxSaveJSON bounds the small files of a save (index.json, manifest.json, a legacy config)
// that are read into memory.
const maxSaveJSON = 16 << 20

// legacyConfig is a legacy save's config file: <image ID hex>.json at the top.
var legacyConfig = regexp.MustCompile(`^[0-9a-f]{64}\.json$`)

// entry takes one entry of the save stream (engine.SaveEach's callback).
func (in *saveIngest) entry(h *tar.Header, r io.Reader) error {
	name := path.Clean(h.Name)
	switch h.Typeflag {
	case tar.TypeSymlink:
		// A legacy save links a layer it already wrote: <v1 id>/layer.tar → ../<v1 id>/layer.tar.
		in.files.Links[name] = path.Clean(path.Join(path.Dir(name), h.Linkname))
		return nil
	case tar.TypeLink:
		in.files.Links[name] = path.Clean(h.Linkname)
		return nil
	case tar.TypeReg:
	default:
		return nil
	}
	in.read += h.Size
	switch {
	case name == ocispec.ImageIndexFile || name == "manifest.json" || legacyConfig.MatchString(name):
		if h.Size > maxSaveJSON {
			return fmt.Errorf("the save's %s is %d bytes, more than a manifest or config can be", name, h.Size)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("read the save's %s: %w", name, err)
		}
		switch name {
		case ocispec.ImageIndexFile:
			in.files.Index = b
		case "manifest.json":
			in.files.Manifest = b
		default:
			in.files.Configs[name] = b
		}
	case strings.HasPrefix(name, ocispec.ImageBlobsDir+"/"):
		d, err := blobDigest(name)
		if err != nil {
			return err
		}
		desc, err := in.writeBlob(r, h.Size, d)
		if err != nil {
			return fmt.Errorf("store the save's %s: %w", name, err)
		}
		in.files.Blobs[name] = desc
	case path.Base(name) == "layer.tar":
		desc, err := in.writeBlob(r, h.Size, "")
		if err != nil {
			return fmt.Errorf("store the save's %s: %w", name, err)
		}
		in.files.Blobs[name] = desc
	}
	return nil // oci-layout, repositories, a legacy <v1 id>/json or VERSION: not needed
}

// blobDigest is the digest a blob file of an OCI layout is named by (blobs/<alg>/<encoded>).
func blobDigest(name string) (digest.Digest, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return "", fmt.Errorf("the save holds %s, which is no blob's name (blobs/ALGORITHM/DIGEST)", name)
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2])
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("the save holds %s, which is no blob's name: %w", name, err)
	}
	return d, nil
}

// writeBlob stores the blob r of size bytes in the layout. With expected set, a blob the layout
// has is not read (the stream skips it), and the ingest is named by the digest: a save bringing
// the same blob at once (another build's) waits for this one, then finds the blob; one an
// interrupted save left is resumed (content.Copy skips what it holds). Without, the blob is
// hashed on its way into an ingest of its own, which is dropped when the layout has that digest
// already.
func (in *saveIngest) writeBlob(r io.Reader, size int64, expected digest.Digest) (ocispec.Descriptor, error) {
	desc := ocispec.Descriptor{Digest: expected, Size: size}
	ref := fmt.Sprintf("%s-%d", in.ref, in.refs)
	if expected != "" {
		ref = "dindbundler-save-" + expected.String()
	} else {
		in.refs++
	}
	w, err := in.store.Writer(in.ctx, content.WithRef(ref), content.WithDescriptor(desc))
	if cerrdefs.IsAlreadyExists(err) {
		return desc, nil
	}
	if err != nil {
		return desc, err
	}
	cr := &countingReader{r: r}
	if expected != "" {
		if err = content.Copy(in.ctx, w, cr, size, expected); err == nil {
			in.written += cr.n
		}
	} else {
		_, err = io.Copy(w, cr)
		if err == nil {
			err = w.Commit(in.ctx, size, "")
			switch {
			case err == nil:
				in.written += cr.n
			case cerrdefs.IsAlreadyExists(err):
				err = nil // the layout had it: the commit dropped the ingest
			}
		}
		desc.Digest = w.Digest()
	}
	w.Close()
	if err != nil {
		if aerr := in.store.Abort(context.WithoutCancel(in.ctx), ref); aerr != nil && !cerrdefs.IsNotFound(aerr) {
			err = errors.Join(err, aerr)
		}
		return desc, err
	}
	return desc, nil
}

// finish makes the image of the save name's in the layout: the engine's manifest, or one made
// from the legacy format.
func (in *saveIngest) finish(name string) (Saved, error) {
	img, err := planSaved(in.files, name)
	if err != nil {
		return Saved{}, err
	}
	if img.Legacy {
		for _, b := range []struct {
			data []byte
			desc ocispec.Descriptor
		}{{img.Config, img.ConfigDesc}, {img.ManifestJSON, img.Manifest}} {
			if _, err := in.writeBlob(bytes.NewReader(b.data), b.desc.Size, b.desc.Digest); err != nil {
				return Saved{}, fmt.Errorf("store the image's %s: %w", b.desc.MediaType, err)
			}
		}
	}
	got, err := in.layout.imageOf(img.Manifest)
	if err != nil {
		return Saved{}, fmt.Errorf("read the image back from the layout: %w", err)
	}
	for _, l := range got.Layers {
		// Every layer the manifest names must be in the layout now: a save without one is
		// not this image (a foreign layer, or a save that named it differently).
		if _, err := os.Stat(in.layout.BlobPath(l.Digest)); err != nil {
			return Saved{}, fmt.Errorf("the image's layer %s is neither in the save nor in the layout: %w", l.Digest, err)
		}
	}
	if err := in.layout.Tag(name, img.Manifest); err != nil {
		return Saved{}, err
	}
	got.Name, got.FullName = name, img.FullName
	return Saved{Image: got, Legacy: img.Legacy, Read: in.read, Written: in.written}, nil
}

// savedFiles is what a save's stream held that makes its images: the small files, the blobs
// stored in the layout by their archive path, and the links between archive paths.
type savedFiles struct {
	Index    []byte // index.json (Engine ≥ 25), nil when absent
	Manifest []byte // manifest.json
	Configs  map[string][]byte
	Blobs    map[string]ocispec.Descriptor // digest and size of each blob file or layer.tar
	Links    map[string]string
}

// savedImage is how the image of a save is named in the layout.
type savedImage struct {
	Manifest ocispec.Descriptor // the manifest to name (MediaType, Digest, Size)
	FullName string             // the name, normalized (docker.io/library/name:tag)
	// Legacy: the manifest and its config were made here and are written into the layout.
	Legacy       bool
	ManifestJSON []byte
	Config       []byte
	ConfigDesc   ocispec.Descriptor
}

// planSaved finds the image name in a save's files: by the index.json of an Engine ≥ 25 save,
// else by the legacy manifest.json, from which a manifest is made (legacyManifest).
func planSaved(f savedFiles, name string) (savedImage, error) {
	full, err := normalize(name)
	if err != nil {
		return savedImage{}, err
	}
	if f.Index != nil {
		return planOCISave(f, name, full)
	}
	if f.Manifest == nil {
		return savedImage{}, errors.New("the save has neither index.json nor manifest.json: it is no image archive")
	}
	var items []layerstore.ManifestItem
	if err := json.Unmarshal(f.Manifest, &items); err != nil {
		return savedImage{}, fmt.Errorf("read the save's manifest.json: %w", err)
	}
	var found []layerstore.ManifestItem
	for _, it := range items {
		if slices.ContainsFunc(it.RepoTags, func(t string) bool { n, err := normalize(t); return err == nil && n == full }) {
			found = append(found, it)
		}
	}
	if len(found) == 0 && len(items) == 1 {
		found = items // saved by ID, or under a name given otherwise
	}
	if len(found) != 1 {
		return savedImage{}, fmt.Errorf("the save's manifest.json names %d images as %s (of %d)", len(found), name, len(items))
	}
	item := found[0]
	cfg, ok := f.Configs[f.resolve(item.Config)]
	if !ok {
		return savedImage{}, fmt.Errorf("the save lacks the config %s of %s", item.Config, name)
	}
	if want := strings.TrimSuffix(path.Base(item.Config), ".json"); digest.FromBytes(cfg).Encoded() != want {
		return savedImage{}, fmt.Errorf("the save's config %s does not match its name (the archive is damaged: build again)", item.Config)
	}
	var layers []ocispec.Descriptor
	for _, p := range item.Layers {
		d, ok := f.Blobs[f.resolve(p)]
		if !ok {
			return savedImage{}, fmt.Errorf("the save lacks the layer %s of %s", p, name)
		}
		layers = append(layers, d)
	}
	man, cfgDesc, err := legacyManifest(cfg, layers)
	if err != nil {
		return savedImage{}, fmt.Errorf("%s: %w", name, err)
	}
	img := savedImage{Legacy: true, ManifestJSON: man, Config: cfg, ConfigDesc: cfgDesc,
		Manifest: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(man), Size: int64(len(man))}}
	img.FullName = full
	return img, nil
}

// planOCISave finds the image full (name) in an Engine ≥ 25 save's index.json.
func planOCISave(f savedFiles, name, full string) (savedImage, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(f.Index, &idx); err != nil {
		return savedImage{}, fmt.Errorf("read the save's index.json: %w", err)
	}
	var found []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if m.Annotations[imageNameAnnotation] == full {
			found = append(found, m)
		}
	}
	if len(found) == 0 {
		distinct := map[digest.Digest]bool{}
		for _, m := range idx.Manifests {
			distinct[m.Digest] = true
		}
		if len(distinct) == 1 {
			found = idx.Manifests[:1] // saved by ID, or under a name given otherwise
		}
	}
	if len(found) == 0 {
		return savedImage{}, fmt.Errorf("the save's index.json names no image %s (of %d)", name, len(idx.Manifests))
	}
	m := found[0]
	if m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != mediaTypeDockerManifest {
		return savedImage{}, fmt.Errorf("the save's %s is a %s, not one image's manifest (save it from an engine on the classic image store, or for one platform)", name, m.MediaType)
	}
	if _, ok := f.Blobs[blobName(m.Digest)]; !ok {
		return savedImage{}, fmt.Errorf("the save lacks the manifest %s of %s", m.Digest, name)
	}
	return savedImage{FullName: full, Manifest: ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}}, nil
}

// resolve follows p's links (a legacy save links a layer saved twice) to the file they name.
func (f savedFiles) resolve(p string) string {
	p = path.Clean(p)
	for range 8 { // links to links, never a loop
		target, ok := f.Links[p]
		if !ok {
			break
		}
		p = target
	}
	return p
}

// legacyManifest makes the OCI manifest of a legacy save's image: its config (the image's raw
// JSON, whose digest is the image ID on the classic store) and its layer tars, base first,
// uncompressed — each tar's digest must be its diffID in the config. The JSON is what Engine ≥ 25
// writes for the same image (moby image/tarexport save.go: ocispec.Manifest, OCI config and
// uncompressed layer media types, nothing else), so an image saved by either gets one digest.
// Both stores load such layers: the classic one from manifest.json whatever the media type, the
// containerd one unpacks application/vnd.oci.image.layer.v1.tar as it comes.
func legacyManifest(config []byte, layers []ocispec.Descriptor) ([]byte, ocispec.Descriptor, error) {
	var cfg ocispec.Image
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("read the image's config: %w", err)
	}
	if len(cfg.RootFS.DiffIDs) != len(layers) {
		return nil, ocispec.Descriptor{}, fmt.Errorf("the config lists %d layers, the save %d", len(cfg.RootFS.DiffIDs), len(layers))
	}
	man := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers:    []ocispec.Descriptor{},
	}
	for i, l := range layers {
		if l.Digest != cfg.RootFS.DiffIDs[i] {
			return nil, ocispec.Descriptor{}, fmt.Errorf("layer %d of the save has digest %s, its config says diffID %s: not the uncompressed layer tar a legacy save holds (the archive is damaged: build again)",
				i+1, l.Digest, cfg.RootFS.DiffIDs[i])
		}
		man.Layers = append(man.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: l.Digest, Size: l.Size})
	}
	b, err := json.Marshal(man)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	return b, man.Config, nil
}
