package compose

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Kinds of host references.
const (
	RefBind    = "bind mount"
	RefEnvFile = "env_file"
	RefSecret  = "secret file"
	RefConfig  = "config file"
)

// Ref is a host file or directory the stack reads at run time: a bind mount's source, an
// env_file, or the file of a top-level secret or config. The bundle runs on another machine, so
// each must be carried into it (Document.Rewrite then points the compose file at the copy) or
// reported.
type Ref struct {
	Kind  string // RefBind, RefEnvFile, RefSecret or RefConfig
	Where string // "service api volumes", "secrets.db", for messages
	Value string // the path as written, interpolated
	Path  string // absolute, cleaned; relative values resolve against the compose file's directory
	// Absolute: written as an absolute (or ~) path — a host path, not a project file.
	Absolute bool
	// Optional: an env_file with required: false; a missing file is not an error.
	Optional bool

	node  *yaml.Node // the scalar holding the value
	short bool       // a short volume spec "SRC:DST[:MODE]": only SRC is replaced
	rest  string     // DST[:MODE] of a short spec, interpolated
}

// Document is a compose file kept as a YAML tree, with the host references found in it.
type Document struct {
	root yaml.Node
	Refs []Ref // in file order
	// Unresolved lists references whose variables cannot be resolved from vars (a required
	// variable only the container's environment may give at boot): left as they are.
	Unresolved []string
}

// References parses compose file text (dir is its absolute directory) and lists its host
// references, interpolated with vars — the variables the bundle's compose sees at boot (its .env).
// Named volumes, anonymous volumes and other mount types are not host references.
func References(data []byte, dir string, vars map[string]string) (doc *Document, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	doc = &Document{}
	if err := yaml.Unmarshal(data, &doc.root); err != nil {
		return nil, err
	}
	top := doc.root.Content
	if len(top) == 0 || top[0].Kind != yaml.MappingNode {
		return doc, nil
	}
	in := &interpolator{lookup: mapLookup(vars)}
	f := &finder{dir: dir, in: in, doc: doc}
	for _, svc := range mappingPairs(lookup(top[0], "services")) {
		name := svc.key.Value
		if err := f.volumes(name, lookup(svc.value, "volumes")); err != nil {
			return nil, err
		}
		if err := f.envFiles(name, lookup(svc.value, "env_file")); err != nil {
			return nil, err
		}
	}
	for _, section := range []struct{ key, kind string }{{"secrets", RefSecret}, {"configs", RefConfig}} {
		for _, item := range mappingPairs(lookup(top[0], section.key)) {
			if n := lookup(item.value, "file"); n != nil && n.Kind == yaml.ScalarNode {
				if err := f.add(Ref{Kind: section.kind, Where: section.key + "." + item.key.Value, node: n}, n.Value); err != nil {
					return nil, err
				}
			}
		}
	}
	return doc, nil
}

type finder struct {
	dir string
	in  *interpolator
	doc *Document
}

// add interpolates raw, resolves it and appends the reference.
func (f *finder) add(r Ref, raw string) error {
	v, err := f.in.run(raw)
	if err != nil {
		f.doc.Unresolved = append(f.doc.Unresolved, fmt.Sprintf("%s %s %q: %v", r.Where, r.Kind, raw, err))
		return nil
	}
	r.Value = v
	switch {
	case filepath.IsAbs(v):
		r.Path, r.Absolute = filepath.Clean(v), true
	case v == "~" || strings.HasPrefix(v, "~/"):
		r.Path, r.Absolute = v, true
	default:
		r.Path = filepath.Join(f.dir, v)
	}
	f.doc.Refs = append(f.doc.Refs, r)
	return nil
}

func (f *finder) volumes(service string, n *yaml.Node) error {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	where := "service " + service + " volumes"
	for _, item := range n.Content {
		switch item.Kind {
		case yaml.ScalarNode:
			v, err := f.in.run(item.Value)
			if err != nil {
				f.doc.Unresolved = append(f.doc.Unresolved, fmt.Sprintf("%s %q: %v", where, item.Value, err))
				continue
			}
			src, rest, ok := strings.Cut(v, ":")
			if !ok || !hostPath(src) {
				continue // an anonymous or named volume
			}
			// src is interpolated already; $$ keeps a $ in it literal when add interpolates.
			if err := f.add(Ref{Kind: RefBind, Where: where, node: item, short: true, rest: rest}, strings.ReplaceAll(src, "$", "$$")); err != nil {
				return err
			}
		case yaml.MappingNode:
			typ := lookup(item, "type")
			src := lookup(item, "source")
			if typ == nil || typ.Value != "bind" || src == nil || src.Kind != yaml.ScalarNode {
				continue
			}
			if err := f.add(Ref{Kind: RefBind, Where: where, node: src}, src.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

// hostPath: in a short volume spec, a source that is a path (not a volume name).
func hostPath(src string) bool {
	return strings.HasPrefix(src, "/") || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "~")
}

func (f *finder) envFiles(service string, n *yaml.Node) error {
	if n == nil {
		return nil
	}
	where := "service " + service
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for _, item := range items {
		switch item.Kind {
		case yaml.ScalarNode:
			if err := f.add(Ref{Kind: RefEnvFile, Where: where, node: item}, item.Value); err != nil {
				return err
			}
		case yaml.MappingNode:
			p := lookup(item, "path")
			if p == nil || p.Kind != yaml.ScalarNode {
				continue
			}
			req := lookup(item, "required")
			optional := req != nil && (req.Value == "false" || req.Value == "False")
			if err := f.add(Ref{Kind: RefEnvFile, Where: where, node: p, Optional: optional}, p.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

// Rewrite replaces the path of each reference listed in to (index into Refs → new path) and
// returns the compose file as YAML. A short volume spec keeps its target and mode.
func (d *Document) Rewrite(to map[int]string) ([]byte, error) {
	idx := make([]int, 0, len(to))
	for i := range to {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		r := d.Refs[i]
		if !r.short {
			r.node.Value, r.node.Style = to[i], 0
			continue
		}
		// The target and mode stay, interpolated once already: $ is escaped so the bundle's
		// compose does not interpolate them again.
		rest := strings.ReplaceAll(r.rest, "$", "$$")
		r.node.Value, r.node.Style = to[i]+":"+rest, 0
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&d.root); err != nil {
		return nil, fmt.Errorf("rewrite the compose file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("rewrite the compose file: %w", err)
	}
	return buf.Bytes(), nil
}

// lookup returns the value of key in a mapping node, nil when absent.
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

type pair struct{ key, value *yaml.Node }

// mappingPairs lists a mapping's entries in file order; nil for anything else.
func mappingPairs(n *yaml.Node) []pair {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	out := make([]pair, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, pair{n.Content[i], n.Content[i+1]})
	}
	return out
}
