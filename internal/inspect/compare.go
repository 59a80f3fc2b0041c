package inspect

import (
	"sort"

	"github.com/dindbundler/dindbundler/internal/fresh"
)

// Changes is what differs from a previous bundle (INSPECT_AGAINST).
type Changes struct {
	Against        string        `json:"against"`
	ImagesAdded    []string      `json:"images_added"`
	ImagesRemoved  []string      `json:"images_removed"`
	ImagesChanged  []ImageChange `json:"images_changed"`
	ServicesAdded  []string      `json:"services_added"`
	ServicesGone   []string      `json:"services_removed"`
	ServicesImage  []string      `json:"services_image_changed"`
	EnvKeysAdded   []string      `json:"env_keys_added"`
	EnvKeysRemoved []string      `json:"env_keys_removed"`
	CertsChanged   []string      `json:"certs_changed"` // files whose certificates differ (subject or expiry)
	// NewLayerBytes is how many compressed bytes of image layers the bundle has that the previous
	// one lacks: about what a differential export of the images carries.
	NewLayerBytes int64 `json:"new_layer_bytes"`
}

// ImageChange is an image whose ID changed.
type ImageChange struct {
	Name  string `json:"name"`
	From  string `json:"from"`
	To    string `json:"to"`
	Delta int64  `json:"size_delta"` // uncompressed bytes, new minus old
}

// Compare lists what changed from prev to cur.
func Compare(prev, cur Report) Changes {
	c := Changes{Against: prev.Source, ImagesAdded: []string{}, ImagesRemoved: []string{}, ImagesChanged: []ImageChange{},
		ServicesAdded: []string{}, ServicesGone: []string{}, ServicesImage: []string{},
		EnvKeysAdded: []string{}, EnvKeysRemoved: []string{}, CertsChanged: []string{}}
	before := map[string]Image{}
	for _, img := range prev.Images {
		before[img.Name] = img
	}
	for _, img := range cur.Images {
		old, ok := before[img.Name]
		switch {
		case !ok:
			c.ImagesAdded = append(c.ImagesAdded, img.Name)
		case old.ID != img.ID:
			c.ImagesChanged = append(c.ImagesChanged, ImageChange{Name: img.Name, From: old.ID, To: img.ID, Delta: img.Size - old.Size})
		}
		delete(before, img.Name)
	}
	for name := range before {
		c.ImagesRemoved = append(c.ImagesRemoved, name)
	}
	sort.Strings(c.ImagesRemoved)

	svc := map[string]string{}
	for _, s := range prev.Services {
		svc[s.Name] = s.Image
	}
	for _, s := range cur.Services {
		old, ok := svc[s.Name]
		switch {
		case !ok:
			c.ServicesAdded = append(c.ServicesAdded, s.Name)
		case old != s.Image:
			c.ServicesImage = append(c.ServicesImage, s.Name)
		}
		delete(svc, s.Name)
	}
	for name := range svc {
		c.ServicesGone = append(c.ServicesGone, name)
	}
	sort.Strings(c.ServicesGone)

	c.EnvKeysAdded, c.EnvKeysRemoved = setDiff(cur.EnvKeys, prev.EnvKeys), setDiff(prev.EnvKeys, cur.EnvKeys)

	certs := func(r Report) map[string]string {
		m := map[string]string{}
		for _, ct := range r.Certs {
			m[ct.File] += ct.Subject + "|" + ct.NotAfter.String() + ";"
		}
		return m
	}
	// The same rule as images recorded against current ones: differs, or missing on either side.
	c.CertsChanged = append(c.CertsChanged, fresh.ChangedImages(certs(prev), certs(cur))...)

	for d, sz := range cur.layers {
		if _, ok := prev.layers[d]; !ok {
			c.NewLayerBytes += sz
		}
	}
	return c
}

// setDiff is a minus b, sorted.
func setDiff(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	out := []string{}
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
