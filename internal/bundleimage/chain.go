package bundleimage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// Layer is a store layer as the chain plan sees it.
type Layer struct {
	DiffID string `json:"diffID"`
	Size   int64  `json:"size"` // bytes of its file in the store
}

// Group is one layer of the bundle image: the store layer files it carries under /images, and
// its own diffID once the engine has it.
type Group struct {
	Layers []Layer `json:"layers"`
	DiffID string  `json:"diffID,omitempty"`
}

// Chain is what the engine holds of the last layers image: the bundle's base image plus one
// image layer per group, in order. Since each layer's identity in the engine depends on all the
// layers below it, a new layers image can reuse a prefix of this chain and nothing else.
type Chain struct {
	Base        string                 `json:"base"`  // the base image's ID
	Image       string                 `json:"image"` // the layers image's ID
	Compression layerstore.Compression `json:"compression"`
	Groups      []Group                `json:"groups"`
}

// ReadChain reads a recorded chain; a missing or damaged file is the empty chain (a full build).
func ReadChain(path string) (Chain, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Chain{}, nil
	}
	if err != nil {
		return Chain{}, fmt.Errorf("read %s: %w", path, err)
	}
	var c Chain
	if json.Unmarshal(data, &c) != nil {
		return Chain{}, nil
	}
	return c, nil
}

// WriteChain records a chain atomically.
func WriteChain(path string, c Chain) error {
	return atomicfile.WriteJSON(path, c, 0o644)
}

// Limits bound the chain.
type Limits struct {
	// MaxGroups is the most image layers the chain may have. The engine refuses images deeper
	// than 125 layers, and the base and the Dockerfile's own steps need their share.
	MaxGroups int
	// MaxGarbage is how many bytes of layers no image uses any more the chain may carry, as a
	// fraction of the bytes in use, before it is compacted.
	MaxGarbage float64
}

// DefaultLimits suit a base of up to ~15 layers. Garbage up to half the live bytes: an image
// rebuilt again and again costs only its new layers for a few rounds, then one compaction.
func DefaultLimits(baseLayers int) Limits {
	max := 115 - baseLayers
	if max > 100 {
		max = 100
	}
	if max < 2 {
		max = 2
	}
	return Limits{MaxGroups: max, MaxGarbage: 0.5}
}

// ChainPlan is the new chain: Groups, of which the first Reuse are the previous chain's and
// already in the engine; the rest must be sent.
type ChainPlan struct {
	Groups []Group
	Reuse  int
	Reason string
}

// PlanChain orders the layers in use (live, in the order they should take) into groups,
// reusing as much of prev (the engine's previous chain, nil when unusable) as it can:
//   - groups at the end of prev that carry only unused layers are dropped for free;
//   - new layers are appended, one group each, or all in one group when the chain is near
//     MaxGroups;
//   - when the unused bytes the chain would carry exceed MaxGarbage × the bytes in use, or the
//     chain would exceed MaxGroups, it is compacted: the prefix of prev without unused layers is
//     kept, the rest regrouped in at most MaxGroups/2 groups.
func PlanChain(prev []Group, live []Layer, lim Limits) ChainPlan {
	inUse := map[string]bool{}
	var liveBytes int64
	for _, l := range live {
		inUse[l.DiffID] = true
		liveBytes += l.Size
	}
	usesAny := func(g Group) bool {
		for _, l := range g.Layers {
			if inUse[l.DiffID] {
				return true
			}
		}
		return false
	}
	usesAll := func(g Group) bool {
		for _, l := range g.Layers {
			if !inUse[l.DiffID] {
				return false
			}
		}
		return true
	}
	kept := prev
	for len(kept) > 0 && !usesAny(kept[len(kept)-1]) {
		kept = kept[:len(kept)-1]
	}
	covered := map[string]bool{}
	var garbage int64
	for _, g := range kept {
		for _, l := range g.Layers {
			covered[l.DiffID] = true
			if !inUse[l.DiffID] {
				garbage += l.Size
			}
		}
	}
	var fresh []Layer
	for _, l := range live {
		if !covered[l.DiffID] {
			fresh = append(fresh, l)
		}
	}
	reason := ""
	switch {
	case len(prev) == 0:
		reason = "no previous layers in the engine"
	case float64(garbage) > lim.MaxGarbage*float64(liveBytes):
		reason = fmt.Sprintf("compacting: %d unused bytes against %d in use", garbage, liveBytes)
	case len(kept)+min(len(fresh), 1) > lim.MaxGroups:
		reason = fmt.Sprintf("compacting: more than %d layers", lim.MaxGroups)
	}
	if reason == "" {
		groups := append([]Group{}, kept...)
		if len(kept)+len(fresh) <= lim.MaxGroups {
			for _, l := range fresh {
				groups = append(groups, Group{Layers: []Layer{l}})
			}
		} else {
			groups = append(groups, Group{Layers: fresh})
		}
		return ChainPlan{Groups: groups, Reuse: len(kept), Reason: fmt.Sprintf("%d layers reused, %d new", len(kept), len(fresh))}
	}
	// Compaction: keep the clean prefix, regroup everything after it.
	target := max(lim.MaxGroups/2, 1)
	n := 0
	for n < len(prev) && usesAll(prev[n]) && n < target-1 { // room for at least one more group
		n++
	}
	groups := append([]Group{}, prev[:n]...)
	covered = map[string]bool{}
	for _, g := range groups {
		for _, l := range g.Layers {
			covered[l.DiffID] = true
		}
	}
	var rest []Layer
	for _, l := range live {
		if !covered[l.DiffID] {
			rest = append(rest, l)
		}
	}
	groups = append(groups, split(rest, target-n)...)
	return ChainPlan{Groups: groups, Reuse: n, Reason: reason}
}

// split cuts layers, in order, into at most k groups of nearly equal counts (one layer each when
// they fit).
func split(layers []Layer, k int) []Group {
	if len(layers) == 0 {
		return nil
	}
	k = max(k, 1)
	per := (len(layers) + k - 1) / k
	var out []Group
	for i := 0; i < len(layers); i += per {
		end := min(i+per, len(layers))
		out = append(out, Group{Layers: append([]Layer{}, layers[i:end]...)})
	}
	return out
}
