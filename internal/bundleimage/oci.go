package bundleimage

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/docker/docker/client"
	"github.com/opencontainers/go-digest"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/tarball"
)

// maxJSON bounds the JSON blobs BaseLayers keeps in memory.
const maxJSON = 16 << 20

func looksJSON(head []byte) bool {
	t := bytes.TrimLeft(head, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// Descriptor is an OCI content descriptor: one blob of an engine's content store.
type Descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// Media types of the layers image as an OCI layout.
const (
	mediaIndex          = "application/vnd.oci.image.index.v1+json"
	mediaManifest       = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig         = "application/vnd.oci.image.config.v1+json"
	mediaLayer          = "application/vnd.oci.image.layer.v1.tar"
	mediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

type ociManifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

type ociIndex struct {
	SchemaVersion int    `json:"schemaVersion"`
	MediaType     string `json:"mediaType,omitempty"`
	Manifests     []struct {
		Descriptor
		Platform *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
			Variant      string `json:"variant,omitempty"`
		} `json:"platform,omitempty"`
	} `json:"manifests"`
}

// WriteLayersOCI writes to w the layers image (see WriteLayersDocker) as an OCI image layout, for an
// engine with the containerd image store. That engine's `docker load` of a docker-save archive
// wants every layer in the archive, but an OCI layout's manifest may name blobs its content store
// already has: the base's (baseLayers, as the base's own manifest lists them, see BaseLayers) and
// the reused groups' (from the last load). Only the new groups' layers are in the archive, as
// uncompressed tars (their files are compressed already), so a layer's blob digest is its diffID.
// The engine digests what it reads, so blob entries are named by position and stream in one pass.
// It returns the image's ID on that engine (the manifest digest) and the groups.
func WriteLayersOCI(w io.Writer, s *layerstore.Store, base Base, baseLayers []Descriptor, plan ChainPlan, c layerstore.Compression) (string, []Group, error) {
	tw := tarball.NewWriter(w)
	if err := writeFiles(tw, tarFile{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)}); err != nil {
		return "", nil, err
	}
	groups, _, err := writeGroups(tw, s, plan, c, func(i int) string { return "blobs/sha256/group-" + strconv.Itoa(i) })
	if err != nil {
		return "", nil, err
	}
	config, layers, err := layersConfigOCI(Layers{Base: base, BaseLayers: baseLayers, Groups: groups}, s, c)
	if err != nil {
		return "", nil, err
	}
	id, err := writeOCIImage(tw, config, layers)
	if err != nil {
		return "", nil, err
	}
	return id, groups, nil
}

// layersConfigOCI is the config and the layer descriptors of the layers image li as
// WriteLayersOCI writes it (its groups' diffIDs known): what an image on top of it starts from.
func layersConfigOCI(li Layers, s *layerstore.Store, c layerstore.Compression) ([]byte, []Descriptor, error) {
	base, baseLayers, groups := li.Base, li.BaseLayers, li.Groups
	if len(baseLayers) != len(base.DiffIDs) {
		return nil, nil, fmt.Errorf("layers image: the base image's manifest lists %d layers, its config %d", len(baseLayers), len(base.DiffIDs))
	}
	config, err := layersConfig(base, groups)
	if err != nil {
		return nil, nil, err
	}
	layers := append([]Descriptor{}, baseLayers...)
	for _, g := range groups {
		files, err := groupFiles(s, g, c)
		if err != nil {
			return nil, nil, err
		}
		size, err := groupSize(files)
		if err != nil {
			return nil, nil, err
		}
		layers = append(layers, Descriptor{MediaType: mediaLayer, Digest: g.DiffID, Size: size})
	}
	return config, layers, nil
}

// writeOCIImage ends an OCI layout in tw with the config, manifest and index of an image of
// config and layers, and returns the manifest digest (the image's ID on the containerd store).
func writeOCIImage(tw *tarball.Writer, config []byte, layers []Descriptor) (string, error) {
	m := ociManifest{SchemaVersion: 2, MediaType: mediaManifest,
		Config: Descriptor{MediaType: mediaConfig, Digest: digest.FromBytes(config).String(), Size: int64(len(config))},
		Layers: layers}
	manifest, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("image manifest: %w", err)
	}
	id := digest.FromBytes(manifest).String()
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mediaIndex,
		"manifests": []Descriptor{{MediaType: mediaManifest, Digest: id, Size: int64(len(manifest))}},
	})
	if err != nil {
		return "", fmt.Errorf("image index: %w", err)
	}
	if err := writeFiles(tw,
		tarFile{"blobs/sha256/" + layerstore.Hex(m.Config.Digest), config},
		tarFile{"blobs/sha256/" + layerstore.Hex(id), manifest},
		tarFile{"index.json", index},
	); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	return id, nil
}

// WriteTopOCI writes to w an OCI layout of the image made of a parent (its config and layer
// blobs, which the engine's content store has) and one more layer (an uncompressed tar), with
// the parent's runtime configuration changed by runtime and a history entry createdBy. Only the
// new layer is in the archive. It returns the image's ID on the containerd store.
func WriteTopOCI(w io.Writer, parentConfig []byte, parentLayers []Descriptor, layer []byte, createdBy string, runtime func(map[string]any)) (string, error) {
	config, diffID, err := topConfig(parentConfig, layer, createdBy, runtime)
	if err != nil {
		return "", err
	}
	tw := tarball.NewWriter(w)
	if err := writeFiles(tw, tarFile{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)}, tarFile{"blobs/sha256/top", layer}); err != nil {
		return "", err
	}
	layers := append(append([]Descriptor{}, parentLayers...), Descriptor{MediaType: mediaLayer, Digest: diffID, Size: int64(len(layer))})
	return writeOCIImage(tw, config, layers)
}

// WriteTopDocker is WriteTopOCI for the classic image store: a `docker load` archive of the
// parent (whose layers the engine has: it finds them by their chain and never opens their
// missing files, as with WriteLayersDocker) plus one layer, of which only the new layer is in
// the archive. It returns the image's ID there (its config digest).
func WriteTopDocker(w io.Writer, parentConfig []byte, layer []byte, createdBy string, runtime func(map[string]any)) (string, error) {
	config, _, err := topConfig(parentConfig, layer, createdBy, runtime)
	if err != nil {
		return "", err
	}
	var parent struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(parentConfig, &parent); err != nil {
		return "", fmt.Errorf("read the parent image's config: %w", err)
	}
	var layers []string
	for i := range parent.RootFS.DiffIDs {
		layers = append(layers, "parent/"+strconv.Itoa(i)+".tar")
	}
	layers = append(layers, "top.tar")
	manifest, err := json.Marshal([]layerstore.ManifestItem{{Config: "config.json", Layers: layers}})
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	tw := tarball.NewWriter(w)
	if err := writeFiles(tw, tarFile{"top.tar", layer}, tarFile{"config.json", config}, tarFile{"manifest.json", manifest}); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	return digest.FromBytes(config).String(), nil
}

// topConfig is the config of parentConfig's image with layer on top: the runtime configuration
// changed by runtime, the layer's diffID and a history entry createdBy added.
func topConfig(parentConfig []byte, layer []byte, createdBy string, runtime func(map[string]any)) ([]byte, string, error) {
	var cfg map[string]any
	if err := json.Unmarshal(parentConfig, &cfg); err != nil {
		return nil, "", fmt.Errorf("read the parent image's config: %w", err)
	}
	rc, _ := cfg["config"].(map[string]any)
	if rc == nil {
		rc = map[string]any{}
	}
	runtime(rc)
	cfg["config"] = rc
	diffID := digest.FromBytes(layer).String()
	rootfs, _ := cfg["rootfs"].(map[string]any)
	if rootfs == nil {
		return nil, "", fmt.Errorf("the parent image's config has no rootfs")
	}
	diffIDs, _ := rootfs["diff_ids"].([]any)
	rootfs["diff_ids"] = append(diffIDs, diffID)
	history, _ := cfg["history"].([]any)
	cfg["history"] = append(history, map[string]any{"created": cfg["created"], "created_by": createdBy})
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("image config: %w", err)
	}
	return config, diffID, nil
}

// layersConfigDocker is layersConfigOCI for the layers image as WriteLayersDocker writes it: the
// classic store finds its layers by their chain, so no descriptors.
func layersConfigDocker(li Layers, _ *layerstore.Store, _ layerstore.Compression) ([]byte, []Descriptor, error) {
	config, err := layersConfig(li.Base, li.Groups)
	return config, nil, err
}

// WriteTop writes to w the archive of the image made of the layers image li and one more layer
// (an uncompressed tar), with the layers image's runtime configuration changed by runtime and a
// history entry createdBy, in the format of the store li was loaded on (WriteTopOCI on the
// containerd store, WriteTopDocker on the classic one): only the new layer is in the archive.
// It returns the image's ID on that store.
func WriteTop(w io.Writer, li Layers, s *layerstore.Store, c layerstore.Compression, layer []byte, createdBy string, runtime func(map[string]any)) (string, error) {
	if li.Store == engine.ContainerdStore {
		config, layers, err := layersConfigOCI(li, s, c)
		if err != nil {
			return "", err
		}
		return WriteTopOCI(w, config, layers, layer, createdBy, runtime)
	}
	config, _, err := layersConfigDocker(li, s, c)
	if err != nil {
		return "", err
	}
	return WriteTopDocker(w, config, layer, createdBy, runtime)
}

// BaseLayers returns the layer descriptors of the image whose ID on an engine with the
// containerd image store is id (its manifest or index digest), for platform os/arch: the blobs
// WriteLayersOCI names for the base. The engine gives no other way to a manifest than its
// `docker save`, an OCI layout of its content store's blobs in digest order; the layer blobs
// stream past unread, and the save is cut short as soon as the manifest is read. Callers keep
// the result for the base's ID.
func BaseLayers(ctx context.Context, api client.ImageAPIClient, id, os, arch string) ([]Descriptor, error) {
	jsons := map[string][]byte{}
	var layers []Descriptor
	var resolveErr error
	err := engine.SaveEach(ctx, api, []string{id}, func(h *tar.Header, r io.Reader) error {
		if h.Typeflag != tar.TypeReg || h.Size > maxJSON || !strings.HasPrefix(h.Name, "blobs/sha256/") {
			return nil
		}
		br := bufio.NewReaderSize(r, 512)
		head, _ := br.Peek(512)
		if !looksJSON(head) {
			return nil
		}
		data, err := io.ReadAll(br)
		if err != nil {
			return fmt.Errorf("read %s: %w", h.Name, err)
		}
		jsons[layerstore.Hex(strings.TrimPrefix(h.Name, "blobs/sha256/"))] = data
		if layers, resolveErr = resolveManifest(jsons, id, os, arch); layers != nil || resolveErr != nil {
			return errManifestRead
		}
		return nil
	})
	switch {
	case errors.Is(err, errManifestRead) && resolveErr != nil:
		return nil, fmt.Errorf("read the manifest of %s: %w", id, resolveErr)
	case errors.Is(err, errManifestRead):
		return layers, nil
	case err != nil:
		return nil, fmt.Errorf("read the manifest of %s: %w", id, err)
	}
	return nil, fmt.Errorf("read the manifest of %s: the engine's save does not hold it (is the engine's image store containerd?)", id)
}

// errManifestRead stops reading a save once the manifest is known.
var errManifestRead = errors.New("manifest read")

// resolveManifest follows digest through indexes to the manifest for os/arch among the blobs
// read so far (by hex digest): its layers, or nil while a blob on the way is still to come.
func resolveManifest(blobs map[string][]byte, dgst, os, arch string) ([]Descriptor, error) {
	for depth := 0; depth < 4; depth++ {
		data, ok := blobs[layerstore.Hex(dgst)]
		if !ok {
			return nil, nil
		}
		var probe struct {
			MediaType string          `json:"mediaType"`
			Manifests json.RawMessage `json:"manifests"`
		}
		if err := json.Unmarshal(data, &probe); err != nil {
			return nil, err
		}
		if probe.Manifests == nil {
			var m ociManifest
			if err := json.Unmarshal(data, &m); err != nil {
				return nil, err
			}
			if m.Layers == nil {
				m.Layers = []Descriptor{}
			}
			return m.Layers, nil
		}
		var idx ociIndex
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, err
		}
		next := ""
		for _, d := range idx.Manifests {
			if d.MediaType != mediaManifest && d.MediaType != mediaDockerManifest && d.MediaType != mediaIndex && d.MediaType != mediaDockerList {
				continue // attestations and the like
			}
			if d.Platform == nil || (d.Platform.OS == os && d.Platform.Architecture == arch) {
				next = d.Digest
				break
			}
		}
		if next == "" {
			return nil, fmt.Errorf("no manifest for %s/%s", os, arch)
		}
		dgst = next
	}
	return nil, errors.New("indexes nested too deep")
}
