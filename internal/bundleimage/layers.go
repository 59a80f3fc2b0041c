package bundleimage

import (
	"archive/tar"
	"encoding/json"
	"fmt"

	"io"
	"os"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/tarball"
)

// Base is what the layers image takes from the bundle's base image (from an image inspect: the
// engine gives no other way to the raw config short of exporting the whole base).
type Base struct {
	Ref          string // for the history entries
	ID           string
	DiffIDs      []string
	Created      string
	OS           string
	Architecture string
	Variant      string
	// Config is the runtime configuration (Env, Entrypoint, Cmd, Healthcheck, …), as JSON.
	Config json.RawMessage
}

// WriteLayersDocker writes to w a `docker load` archive of the layers image: base plus one layer
// per group of plan, each layer carrying its group's store files under /images. Only the groups
// from plan.Reuse on are in the archive: the engine finds the others (and the base's layers) by
// their chain and never opens their missing files: the format of the classic image store
// (WriteLayersOCI is the containerd store's). It returns the image's ID (its config digest) and
// the groups with their diffIDs.
func WriteLayersDocker(w io.Writer, s *layerstore.Store, base Base, plan ChainPlan, c layerstore.Compression) (string, []Group, error) {
	tw := tarball.NewWriter(w)
	layers := make([]string, 0, len(base.DiffIDs)+len(plan.Groups))
	for i := range base.DiffIDs {
		layers = append(layers, "base/"+strconv.Itoa(i)+".tar")
	}
	for i := range plan.Groups {
		layers = append(layers, "layers/"+strconv.Itoa(i)+".tar")
	}
	groups, _, err := writeGroups(tw, s, plan, c, func(i int) string { return layers[len(base.DiffIDs)+i] })
	if err != nil {
		return "", nil, err
	}
	config, err := layersConfig(base, groups)
	if err != nil {
		return "", nil, err
	}
	manifest, err := json.Marshal([]layerstore.ManifestItem{{Config: "config.json", Layers: layers}})
	if err != nil {
		return "", nil, fmt.Errorf("layers image: %w", err)
	}
	if err := writeFiles(tw, tarFile{"config.json", config}, tarFile{"manifest.json", manifest}); err != nil {
		return "", nil, err
	}
	if err := tw.Close(); err != nil {
		return "", nil, fmt.Errorf("layers image: %w", err)
	}
	return digest.FromBytes(config).String(), groups, nil
}

// writeGroups writes the plan's groups from plan.Reuse on into tw, the i-th under name(i), and
// returns the groups with their diffIDs and the byte size of every group's layer tar.
func writeGroups(tw *tarball.Writer, s *layerstore.Store, plan ChainPlan, c layerstore.Compression, name func(int) string) ([]Group, []int64, error) {
	groups := append([]Group{}, plan.Groups...)
	sizes := make([]int64, len(groups))
	for i := range groups {
		if i < plan.Reuse && groups[i].DiffID == "" {
			return nil, nil, fmt.Errorf("layers image: reused layer %d has no diffID", i)
		}
		files, err := groupFiles(s, groups[i], c)
		if err != nil {
			return nil, nil, err
		}
		if sizes[i], err = groupSize(files); err != nil {
			return nil, nil, err
		}
		if i < plan.Reuse {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: name(i), Mode: 0o644, Size: sizes[i], Typeflag: tar.TypeReg}); err != nil {
			return nil, nil, fmt.Errorf("layers image: %w", err)
		}
		h := digest.Canonical.Digester()
		if err := writeGroup(io.MultiWriter(tw, h.Hash()), files, openFile); err != nil {
			return nil, nil, err
		}
		groups[i].DiffID = h.Digest().String()
	}
	return groups, sizes, nil
}

type tarFile struct {
	name string
	data []byte
}

// writeFiles writes small files into tw.
func writeFiles(tw *tarball.Writer, files ...tarFile) error {
	for _, f := range files {
		if err := tw.File(f.name, 0o644, f.data); err != nil {
			return fmt.Errorf("layers image: %w", err)
		}
	}
	return nil
}

// layersConfig is the layers image's config: the base's, with the groups' layers on top and one
// history entry per layer (placeholders for the base's, whose history an inspect does not give
// exactly), so `docker history` pairs entries with the right layers.
func layersConfig(base Base, groups []Group) ([]byte, error) {
	type history struct {
		Created   string `json:"created,omitempty"`
		CreatedBy string `json:"created_by,omitempty"`
		Comment   string `json:"comment,omitempty"`
	}
	diffIDs := append([]string{}, base.DiffIDs...)
	var hist []history
	for range base.DiffIDs {
		hist = append(hist, history{Created: base.Created, Comment: "layer of the base image " + base.Ref})
	}
	for _, g := range groups {
		diffIDs = append(diffIDs, g.DiffID)
		hist = append(hist, history{Created: base.Created, CreatedBy: fmt.Sprintf("dindbundler: %d image layer files in /%s", len(g.Layers), Dir)})
	}
	cfg := struct {
		Architecture string          `json:"architecture"`
		OS           string          `json:"os"`
		Variant      string          `json:"variant,omitempty"`
		Created      string          `json:"created,omitempty"`
		Config       json.RawMessage `json:"config,omitempty"`
		RootFS       struct {
			Type    string   `json:"type"`
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
		History []history `json:"history"`
	}{Architecture: base.Architecture, OS: base.OS, Variant: base.Variant, Created: base.Created, Config: base.Config, History: hist}
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = diffIDs
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("layers image config: %w", err)
	}
	return data, nil
}

type groupFile struct {
	name string // inside the layer
	path string // in the store
	size int64
}

func groupFiles(s *layerstore.Store, g Group, c layerstore.Compression) ([]groupFile, error) {
	var files []groupFile
	for _, l := range g.Layers {
		p := s.LayerPath(l.DiffID, c)
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("layers image: %w (run the save stage again)", err)
		}
		files = append(files, groupFile{name: Dir + "/" + layerstore.LayerFile(l.DiffID, c), path: p, size: info.Size()})
	}
	return files, nil
}

// writeGroup writes one image layer: the /images directory and the group's files, with fixed
// owners, modes and times, so equal files make an equal layer.
func writeGroup(w io.Writer, files []groupFile, open func(groupFile) (io.ReadCloser, error)) error {
	tw := tarball.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: Dir + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
		return fmt.Errorf("layers image: %w", err)
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: f.size, Typeflag: tar.TypeReg}); err != nil {
			return fmt.Errorf("layers image %s: %w", f.name, err)
		}
		r, err := open(f)
		if err != nil {
			return fmt.Errorf("layers image %s: %w", f.name, err)
		}
		n, err := io.CopyN(tw, r, f.size)
		r.Close()
		if err != nil {
			return fmt.Errorf("layers image: %s changed while it was read (%d of %d bytes): %w", f.path, n, f.size, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("layers image: %w", err)
	}
	return nil
}

func openFile(f groupFile) (io.ReadCloser, error) { return os.Open(f.path) }

// groupSize is the byte size of writeGroup's output, found by writing it with zeros for content
// (the outer archive needs the size before the content).
func groupSize(files []groupFile) (int64, error) {
	var n counter
	err := writeGroup(&n, files, func(groupFile) (io.ReadCloser, error) { return io.NopCloser(zeros{}), nil })
	return int64(n), err
}

type counter int64

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
