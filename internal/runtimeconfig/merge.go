package runtimeconfig

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"gopkg.in/yaml.v3"
)

// Part is one template's runtime configuration; Template names it in errors.
type Part struct {
	Template string
	Config   Config
}

// Merge is the union of the parts' functions and routes. A function name, or a route (path and
// method), that two templates define differently is an error naming both templates and the
// function or route — every such conflict at once; defined identically, it is kept once. The
// defaults blocks must agree where they are not empty.
func Merge(parts []Part) (Config, error) {
	out := Config{Functions: Functions{Defaults: map[string]any{}, Functions: map[string]Function{}}}
	fnFrom := map[string]string{}    // function name → template that defined it first
	routeFrom := map[string]string{} // route key → template
	routeAt := map[string]Route{}    // route key → route
	defaultsFrom := ""               // the template whose non-empty defaults are kept
	var conflicts []error
	for _, p := range parts {
		p.Config.Normalize()
		if len(p.Config.Functions.Defaults) > 0 {
			switch {
			case defaultsFrom == "":
				out.Functions.Defaults, defaultsFrom = p.Config.Functions.Defaults, p.Template
			case !sameYAML(out.Functions.Defaults, p.Config.Functions.Defaults):
				conflicts = append(conflicts, fmt.Errorf("the defaults block of %s differs from the one of %s: make them equal", p.Template, defaultsFrom))
			}
		}
		for _, name := range slices.Sorted(maps.Keys(p.Config.Functions.Functions)) {
			fn := p.Config.Functions.Functions[name]
			prev, seen := out.Functions.Functions[name]
			switch {
			case !seen:
				out.Functions.Functions[name], fnFrom[name] = fn, p.Template
			case !sameYAML(prev, fn):
				conflicts = append(conflicts, fmt.Errorf("function %s is defined differently by %s and %s (%s): give one of them another FunctionName, or make them equal", name, fnFrom[name], p.Template, differences(prev, fn)))
			}
		}
		for _, r := range p.Config.Routing.Routes {
			key := r.Key()
			prev, seen := routeAt[key]
			switch {
			case !seen:
				routeAt[key], routeFrom[key] = r, p.Template
				out.Routing.Routes = append(out.Routing.Routes, r)
			case !sameRoute(prev, r):
				conflicts = append(conflicts, fmt.Errorf("route %s goes to function %s in %s but to %s in %s: change the path or method of one of them", key, prev.Function, routeFrom[key], r.Function, p.Template))
			}
		}
	}
	if len(conflicts) > 0 {
		return Config{}, fmt.Errorf("merge the templates' runtime configs:\n%w", errors.Join(conflicts...))
	}
	out.Normalize()
	return out, nil
}

func sameRoute(a, b Route) bool { return a.Key() == b.Key() && sameYAML(a, b) }

// sameYAML compares two values as the files say them: nil and empty collections alike.
func sameYAML(a, b any) bool {
	x, errX := yaml.Marshal(a)
	y, errY := yaml.Marshal(b)
	return errX == nil && errY == nil && bytes.Equal(x, y)
}

// differences names the settings in which two entries of one function differ.
func differences(a, b Function) string {
	var diff []string
	for _, f := range []struct {
		name string
		a, b any
	}{
		{"image", a.Image, b.Image}, {"timeout", a.Timeout, b.Timeout}, {"memory_size", a.MemorySize, b.MemorySize},
		{"environment", a.Environment, b.Environment}, {"scaling", a.Scaling, b.Scaling}, {"events", a.Events, b.Events},
		{"other keys", a.Extra, b.Extra},
	} {
		if !sameYAML(f.a, f.b) {
			diff = append(diff, f.name)
		}
	}
	if len(diff) == 0 {
		return "differs"
	}
	return "differs in " + joinAnd(diff)
}

func joinAnd(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	out := ""
	for i, x := range s {
		switch {
		case i == 0:
			out = x
		case i == len(s)-1:
			out += " and " + x
		default:
			out += ", " + x
		}
	}
	return out
}

// DirPart is one template's runtime config directory: its files by slash path relative to it.
type DirPart struct {
	Template string
	Files    map[string][]byte
}

// MergeDirs merges the templates' runtime config directories into the bundle's one: functions.yml
// and routing.yml by Merge, resources.yml by MergeResources, every other file carried as it is — present in several directories it must be byte for byte the same. It
// returns the files to write (none when no directory holds anything) and the merged
// configuration.
func MergeDirs(parts []DirPart) (map[string][]byte, Config, error) {
	var configs []Part
	var resources []ResourcePart
	files := map[string][]byte{}
	fileFrom := map[string]string{}
	found := false
	var conflicts []error
	for _, p := range parts {
		if len(p.Files) == 0 {
			continue
		}
		found = true
		c := Config{}
		for _, name := range slices.Sorted(maps.Keys(p.Files)) {
			data := p.Files[name]
			label := p.Template + " (" + name + ")"
			var err error
			switch name {
			case FunctionsFile:
				c.Functions, err = DecodeFunctions(data, label)
			case RoutingFile:
				c.Routing, err = DecodeRouting(data, label)
			case ResourcesFile:
				var r Resources
				if r, err = DecodeResources(data, label); err == nil {
					resources = append(resources, ResourcePart{Template: p.Template, Resources: r})
				}
			default:
				if prev, seen := files[name]; seen && !bytes.Equal(prev, data) {
					err = fmt.Errorf("%s differs between the runtime configs of %s and %s: make them equal, or keep it in one template's", name, fileFrom[name], p.Template)
				} else if !seen {
					files[name], fileFrom[name] = data, p.Template
				}
			}
			if err != nil {
				conflicts = append(conflicts, err)
			}
		}
		configs = append(configs, Part{Template: p.Template, Config: c})
	}
	if len(conflicts) > 0 {
		return nil, Config{}, fmt.Errorf("merge the templates' runtime configs:\n%w", errors.Join(conflicts...))
	}
	if !found {
		return map[string][]byte{}, Config{}, nil
	}
	merged, err := Merge(configs)
	if err != nil {
		return nil, Config{}, err
	}
	fns, routes, err := Encode(merged)
	if err != nil {
		return nil, Config{}, err
	}
	files[FunctionsFile], files[RoutingFile] = fns, routes
	if len(resources) > 0 {
		r, err := MergeResources(resources)
		if err != nil {
			return nil, Config{}, err
		}
		if files[ResourcesFile], err = EncodeResources(r); err != nil {
			return nil, Config{}, err
		}
	}
	return files, merged, nil
}
