// Package inspect reports what a bundle carries — its images (kind, size, compressed size),
// the layers they share, the compose services, the certificates (subject, expiry), the .env
// keys and the compression — read from a docker-save archive of the bundle image: the engine's
// save of a tag, or a `mage export` file. It reads the bundle's own layout (/app, /images, the
// certificates directory) and never prints a .env value. It does not talk to Docker: the caller
// hands it the archive's entries.
package inspect

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/internal/bundlefile"
	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/internal/runtimeconfig"
)

// Report is what a bundle carries.
type Report struct {
	Source string `json:"source"`           // the tag or file inspected
	Bundle string `json:"bundle,omitempty"` // the tag, from an export file's description
	Image  string `json:"image,omitempty"`  // the bundle's image ID, from an export file
	// File describes an export file; nil for a tag.
	File *File `json:"file,omitempty"`
	// Project is the compose project the bundle runs as.
	Project string `json:"project,omitempty"`
	// Engine is the inner Docker Engine the bundle runs its stack on, from the DinD base image's
	// labels (dindbundler's bases carry them; another base leaves it empty).
	Engine *Engine `json:"engine,omitempty"`
	// Compression of the bundled image layers (BUNDLE_COMPRESSION).
	Compression  layerstore.Compression `json:"compression"`
	Images       []Image                `json:"images"`
	SharedLayers []SharedLayer          `json:"shared_layers"`
	Services     []Service              `json:"services"`
	Certs        []Cert                 `json:"certs"`
	EnvKeys      []string               `json:"env_keys"`
	// Missing names what the source did not show (a differential file lacks its bottom layers).
	Missing []string `json:"missing,omitempty"`
	// Changes since a previous bundle (INSPECT_AGAINST); nil without one.
	Changes *Changes `json:"changes,omitempty"`
	// Functions and Routes are the stack's runtime config (/app/config/functions.yml and
	// routing.yml): what the gateway runs and routes.
	Functions []Function `json:"functions"`
	Routes    []Route    `json:"routes"`

	layers map[string]int64 // every image layer the bundle lists: diffID → compressed bytes
}

// File is an export file's own facts.
type File struct {
	Compression layerstore.Compression `json:"compression"`
	// Requires is the bundle a differential file needs on the target; empty for a full file.
	Requires string `json:"requires,omitempty"`
}

// Image is one image the bundle loads.
type Image struct {
	Name           string `json:"name"`
	Kind           string `json:"kind"`
	ID             string `json:"id"`
	Layers         int    `json:"layers"`
	SharedLayers   int    `json:"shared_layers"`   // of its layers, how many other images use too
	Size           int64  `json:"size"`            // uncompressed layer bytes
	CompressedSize int64  `json:"compressed_size"` // as stored in the bundle
}

// Engine is the bundle's inner engine.
type Engine struct {
	Version string `json:"version"`         // e.g. 26.1.5
	Suite   string `json:"suite,omitempty"` // the Debian release it comes from
}

// Labels of the DinD base images dind/base builds, inherited by every bundle built on them.
const (
	engineLabel = "io.dindbundler.engine-version"
	suiteLabel  = "io.dindbundler.suite"
)

// SharedLayer is a layer more than one image uses; the bundle stores it once.
type SharedLayer struct {
	DiffID         string   `json:"diff_id"`
	Size           int64    `json:"size"`
	CompressedSize int64    `json:"compressed_size"`
	Images         []string `json:"images"`
}

// Service is one compose service and what it runs.
type Service struct {
	Name  string `json:"name"`
	Image string `json:"image,omitempty"`
	Build bool   `json:"build,omitempty"` // built by the producer from a build: section
}

// Function is one function of the runtime config.
type Function struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// Route is one route of the runtime config.
type Route struct {
	Method   string `json:"method"`
	Path     string `json:"path"`
	Function string `json:"function"`
}

// Cert is one certificate in the bundle.
type Cert struct {
	File     string    `json:"file"`
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
	DaysLeft int       `json:"days_left"`
}

// Files of the bundle's layout that the report reads (paths inside the image, no leading /).
var (
	manifestFile = dind.Rel(dind.ManifestFile)
	composeFile  = dind.Rel(dind.ComposeFile)
	envFile      = dind.Rel(dind.EnvFile)
	imagesFile   = dind.Rel(dind.ImagesDir) + "/manifest.json"
	// registryFile lists the images the bundle's registry serves from /images; those compose
	// does not run are not in imagesFile (the boot does not load them).
	registryFile = dind.Rel(dind.RegistryIndex)
)

// The runtime config's files in the bundle.
var (
	functionsFile = dind.Rel(dind.ConfigDir) + "/" + runtimeconfig.FunctionsFile
	routingFile   = dind.Rel(dind.ConfigDir) + "/" + runtimeconfig.RoutingFile
)

var (
	certFile  = regexp.MustCompile(`^root/\.[^/]+/certs/.+\.(crt|pem)$`)
	layerFile = regexp.MustCompile(`^` + dind.Rel(dind.ImagesDir) + `/([0-9a-f]{64})\.tar(\.gz|\.zst)?$`)
)

// Scanner collects a report from a bundle archive's entries (Entry), then builds it (Report).
type Scanner struct {
	source  string
	meta    *bundlefile.Meta
	order   []string              // the bundle's layers, bottom first (its manifest.json)
	files   map[string][]hit      // small files of interest, per bundle layer
	layers  map[string]layerSizes // image layer files by diffID
	unknown int                   // layer entries that were not tar archives
	engine  *Engine               // from the image config's labels
}

type hit struct {
	layer string
	data  []byte
}

type layerSizes struct{ size, compressed int64 }

// NewScanner starts a report on source (a tag or file name, for the report).
func NewScanner(source string) *Scanner {
	return &Scanner{source: source, files: map[string][]hit{}, layers: map[string]layerSizes{}}
}

// Entry takes one entry of the archive (engine.SaveEach's or bundlefile.Entries' callback).
func (s *Scanner) Entry(h *tar.Header, r io.Reader) error {
	switch {
	case h.Name == bundlefile.MetaName:
		var m bundlefile.Meta
		if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&m); err != nil {
			return fmt.Errorf("inspect %s: %s: %w", s.source, h.Name, err)
		}
		s.meta = &m
	case h.Name == "manifest.json":
		var items []layerstore.ManifestItem
		if err := json.NewDecoder(io.LimitReader(r, 16<<20)).Decode(&items); err != nil {
			return fmt.Errorf("inspect %s: manifest.json: %w", s.source, err)
		}
		if len(items) > 0 {
			s.order = items[0].Layers
		}
	case h.Typeflag == tar.TypeReg && !strings.Contains(h.Name, "/") && strings.HasSuffix(h.Name, ".json") && h.Size < 1<<20:
		// A docker-save archive's image config (<config digest>.json).
		data, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("inspect %s: %s: %w", s.source, h.Name, err)
		}
		s.config(data)
	case h.Typeflag == tar.TypeReg && strings.HasPrefix(h.Name, "blobs/sha256/") && h.Size < 1<<20:
		// A small OCI blob: an image config, a manifest or an index — or a tiny layer.
		data, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("inspect %s: %s: %w", s.source, h.Name, err)
		}
		if !s.config(data) {
			return s.layer(h.Name, bytes.NewReader(data))
		}
	case h.Typeflag == tar.TypeReg && (strings.HasSuffix(h.Name, "/layer.tar") || strings.HasPrefix(h.Name, "blobs/sha256/")):
		return s.layer(h.Name, r)
	}
	return nil
}

// config reads the engine labels of an image config; it reports whether data was one (JSON with
// a rootfs), so a small OCI blob that is not goes on as a layer.
func (s *Scanner) config(data []byte) bool {
	var c struct {
		Config ocispec.ImageConfig `json:"config"`
		RootFS *ocispec.RootFS     `json:"rootfs"`
	}
	if err := json.Unmarshal(data, &c); err != nil || c.RootFS == nil {
		return false
	}
	if v := c.Config.Labels[engineLabel]; v != "" {
		s.engine = &Engine{Version: v, Suite: c.Config.Labels[suiteLabel]}
	}
	return true
}

// layer reads one layer of the bundle image: a tar, possibly compressed (OCI blobs); a blob that
// is no tar (a config, an index) is skipped.
func (s *Scanner) layer(name string, r io.Reader) error {
	dr, err := layerstore.Decompress(r)
	if err != nil {
		return fmt.Errorf("inspect %s: %s: %w", s.source, name, err)
	}
	defer dr.Close()
	tr := tar.NewReader(dr)
	for first := true; ; first = false {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if first {
				s.unknown++
				return nil
			}
			return fmt.Errorf("inspect %s: layer %s: %w", s.source, name, err)
		}
		p := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if h.Typeflag != tar.TypeReg {
			continue
		}
		switch {
		case p == manifestFile || p == composeFile || p == envFile || p == imagesFile || p == registryFile || p == functionsFile || p == routingFile || certFile.MatchString(p):
			data, err := io.ReadAll(io.LimitReader(tr, 16<<20))
			if err != nil {
				return fmt.Errorf("inspect %s: /%s: %w", s.source, p, err)
			}
			s.files[p] = append(s.files[p], hit{layer: name, data: data})
		default:
			if m := layerFile.FindStringSubmatch(p); m != nil {
				size, err := uncompressedSize(tr)
				if err != nil {
					return fmt.Errorf("inspect %s: /%s: %w", s.source, p, err)
				}
				s.layers["sha256:"+m[1]] = layerSizes{size: size, compressed: h.Size}
			}
		}
	}
}

func uncompressedSize(r io.Reader) (int64, error) {
	dr, err := layerstore.Decompress(r)
	if err != nil {
		return 0, err
	}
	defer dr.Close()
	return io.Copy(io.Discard, dr)
}

// file is the content of p from the topmost bundle layer that has it.
func (s *Scanner) file(p string) ([]byte, bool) {
	hits := s.files[p]
	if len(hits) == 0 {
		return nil, false
	}
	rank := map[string]int{}
	for i, l := range s.order {
		rank[l] = i + 1
	}
	best := hits[len(hits)-1]
	for _, h := range hits {
		if rank[h.layer] > rank[best.layer] {
			best = h
		}
	}
	return best.data, true
}

// Report builds the report; now dates the certificates' days left.
func (s *Scanner) Report(now time.Time) (Report, error) {
	rep := Report{Source: s.source, Images: []Image{}, SharedLayers: []SharedLayer{}, Services: []Service{}, Functions: []Function{}, Routes: []Route{}, Certs: []Cert{}, EnvKeys: []string{}}
	if s.meta != nil {
		rep.Bundle, rep.Image = s.meta.Bundle, s.meta.Image
		rep.File = &File{Compression: s.meta.Compression}
		if s.meta.Requires != nil {
			rep.File.Requires = s.meta.Requires.Bundle + " (" + s.meta.Requires.Image + ")"
			rep.Missing = append(rep.Missing, fmt.Sprintf("a differential file: its bottom %d layers are those of %s, so what they carry (most image layer files) is not shown", s.meta.Omitted, s.meta.Requires.Bundle))
		}
	}
	data, ok := s.file(manifestFile)
	if !ok {
		return rep, fmt.Errorf("inspect %s: no /%s: this is not a dindbundler bundle (or a differential file whose previous bundle holds it)", s.source, manifestFile)
	}
	// Parsed and validated as every manifest read from outside: names and digests are checked
	// before the report prints or compares one.
	m, err := manifest.Parse(data)
	if err != nil {
		return rep, fmt.Errorf("inspect %s: /%s: %w", s.source, manifestFile, err)
	}
	rep.Project = m.Build.Project
	rep.Engine = s.engine
	if rep.Engine == nil {
		rep.Missing = append(rep.Missing, "the inner engine's version: the bundle's base image carries no "+engineLabel+" label (not a dindbundler base)")
	}
	if err := s.images(&rep, m); err != nil {
		return rep, err
	}
	var vars map[string]string
	if data, ok := s.file(envFile); ok {
		v, err := config.ParseEnv(string(data))
		if err != nil {
			rep.Missing = append(rep.Missing, "/"+envFile+" does not parse: "+firstLine(err))
		}
		vars = v
		for k := range v {
			rep.EnvKeys = append(rep.EnvKeys, k)
		}
		sort.Strings(rep.EnvKeys)
	}
	if data, ok := s.file(composeFile); ok {
		f, err := compose.Parse(data, dind.AppDir, vars)
		if err != nil {
			rep.Missing = append(rep.Missing, "/"+composeFile+" does not parse: "+firstLine(err))
		} else {
			for _, svc := range f.Services {
				rep.Services = append(rep.Services, Service{Name: svc.Name, Image: svc.Image, Build: svc.Build != nil})
			}
		}
	}
	s.runtimeConfig(&rep)
	certPaths := make([]string, 0)
	for p := range s.files {
		if certFile.MatchString(p) {
			certPaths = append(certPaths, p)
		}
	}
	sort.Strings(certPaths)
	for _, p := range certPaths {
		data, _ := s.file(p)
		rep.Certs = append(rep.Certs, certsOf("/"+p, data, now)...)
	}
	return rep, nil
}

// runtimeConfig lists the functions and routes of the bundle's runtime config; a bundle without
// one lists none, and a file that does not read is noted.
func (s *Scanner) runtimeConfig(rep *Report) {
	if data, ok := s.file(functionsFile); ok {
		f, err := runtimeconfig.DecodeFunctions(data, "/"+functionsFile)
		if err != nil {
			rep.Missing = append(rep.Missing, firstLine(err))
		}
		for _, name := range slices.Sorted(maps.Keys(f.Functions)) {
			rep.Functions = append(rep.Functions, Function{Name: name, Image: f.Functions[name].Image})
		}
	}
	if data, ok := s.file(routingFile); ok {
		r, err := runtimeconfig.DecodeRouting(data, "/"+routingFile)
		if err != nil {
			rep.Missing = append(rep.Missing, firstLine(err))
		}
		for _, route := range r.Routes {
			rep.Routes = append(rep.Routes, Route{Method: strings.ToUpper(route.Method), Path: route.Path, Function: route.Function})
		}
	}
}

func firstLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

// servedItems are the images the bundle's registry serves that items (the boot's docker-save
// manifest) does not name, as docker-save entries of the same files.
func (s *Scanner) servedItems(items []layerstore.ManifestItem) ([]layerstore.ManifestItem, error) {
	data, ok := s.file(registryFile)
	if !ok {
		return nil, nil
	}
	var idx struct {
		Images []struct {
			Name   string
			Config struct{ File string }
			Layers []struct{ File string }
		}
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("inspect %s: /%s: %w", s.source, registryFile, err)
	}
	named := map[string]bool{}
	for _, it := range items {
		for _, tag := range it.RepoTags {
			named[tag] = true
		}
	}
	var out []layerstore.ManifestItem
	for _, img := range idx.Images {
		if named[img.Name] {
			continue
		}
		it := layerstore.ManifestItem{Config: img.Config.File, RepoTags: []string{img.Name}}
		for _, l := range img.Layers {
			it.Layers = append(it.Layers, l.File)
		}
		out = append(out, it)
	}
	return out, nil
}

// images fills the images and shared layers from /images/manifest.json and the layer files.
// A layer is shared when images of different IDs use it; tags of one image are one image.
func (s *Scanner) images(rep *Report, m manifest.Manifest) error {
	data, ok := s.file(imagesFile)
	if !ok {
		return fmt.Errorf("inspect %s: no /%s in the bundle", s.source, imagesFile)
	}
	var items []layerstore.ManifestItem
	if err := json.Unmarshal(data, &items); err != nil {
		return fmt.Errorf("inspect %s: /%s: %w", s.source, imagesFile, err)
	}
	served, err := s.servedItems(items)
	if err != nil {
		return err
	}
	items = append(items, served...)
	kinds := map[string]string{}
	for _, img := range m.Images {
		kinds[img.Name] = img.Kind
	}
	users := map[string][]string{} // diffID → the first tag of each image using it
	var order []string
	for _, it := range items {
		seen := map[string]bool{}
		for _, f := range it.Layers {
			d, c := diffID(f)
			if c != "" {
				rep.Compression = c
			}
			if seen[d] || len(it.RepoTags) == 0 {
				continue
			}
			seen[d] = true
			if len(users[d]) == 0 {
				order = append(order, d)
			}
			users[d] = append(users[d], it.RepoTags[0])
		}
	}
	missing := map[string]bool{}
	rep.layers = map[string]int64{}
	for _, it := range items {
		for _, tag := range it.RepoTags {
			img := Image{Name: tag, Kind: kinds[tag], ID: "sha256:" + strings.TrimSuffix(it.Config, ".json"), Layers: len(it.Layers)}
			for _, f := range it.Layers {
				d, _ := diffID(f)
				sz, ok := s.layers[d]
				if !ok {
					missing[d] = true
				}
				rep.layers[d] = sz.compressed
				img.Size += sz.size
				img.CompressedSize += sz.compressed
				if len(users[d]) > 1 {
					img.SharedLayers++
				}
			}
			rep.Images = append(rep.Images, img)
		}
	}
	if len(missing) > 0 {
		rep.Missing = append(rep.Missing, fmt.Sprintf("%d image layer files were not in the source; their sizes count as 0", len(missing)))
	}
	for _, d := range order {
		if u := users[d]; len(u) > 1 {
			sz := s.layers[d]
			rep.SharedLayers = append(rep.SharedLayers, SharedLayer{DiffID: d, Size: sz.size, CompressedSize: sz.compressed, Images: u})
		}
	}
	if rep.Compression == "" {
		rep.Compression = layerstore.None
	}
	return nil
}

// diffID of a layer file name in /images, and its compression.
func diffID(file string) (string, layerstore.Compression) {
	for _, c := range []layerstore.Compression{layerstore.Gzip, layerstore.Zstd, layerstore.None} {
		if hexd, ok := strings.CutSuffix(file, c.Ext()); ok {
			return "sha256:" + hexd, c
		}
	}
	return file, ""
}

// certsOf lists the certificates of a PEM file (a chain holds several).
func certsOf(file string, data []byte, now time.Time) []Cert {
	var out []Cert
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		out = append(out, Cert{File: file, Subject: c.Subject.String(), Issuer: c.Issuer.String(), NotAfter: c.NotAfter.UTC(), DaysLeft: int(c.NotAfter.Sub(now).Hours() / 24)})
	}
}
