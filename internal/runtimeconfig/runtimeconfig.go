// Package runtimeconfig owns the stack's runtime configuration: functions.yml (per function the
// image, timeout, memory size, environment, scaling and schedule events, plus a defaults block)
// and routing.yml (the HTTP routes of the gateway), in the shape the stack's gateway reads. It
// encodes and decodes those files deterministically and merges the configurations of several
// templates (Merge, MergeDirs); it is pure and must not read the disk or decide freshness —
// callers read and write the files.
package runtimeconfig

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// File names of the runtime configuration, and the directory the producer writes them to under
// its <output root>/<env> (the per-template artifact root of the stack's own layout).
const (
	FunctionsFile = "functions.yml"
	RoutingFile   = "routing.yml"
	DirName       = "config"
)

// Config is one template's (or the merged) runtime configuration.
type Config struct {
	Functions Functions
	Routing   Routing
}

// Functions is functions.yml.
type Functions struct {
	// Defaults apply to every function (the gateway merges its environment and scaling under
	// each function's); kept as written, since only the stack knows all its keys.
	Defaults  map[string]any      `yaml:"defaults"`
	Functions map[string]Function `yaml:"functions"`
}

// Function is one function's entry. Extra keeps keys this package does not know (an external
// producer's), so a merge carries them.
type Function struct {
	Image       string            `yaml:"image"`
	Timeout     int               `yaml:"timeout,omitempty"`
	MemorySize  int               `yaml:"memory_size,omitempty"`
	Environment map[string]string `yaml:"environment,omitempty"`
	Scaling     *Scaling          `yaml:"scaling,omitempty"`
	Events      []Event           `yaml:"events,omitempty"`
	Extra       map[string]any    `yaml:",inline"`
}

// Scaling bounds a function's pool of workers: MaxCapacity from ReservedConcurrentExecutions,
// MinCapacity (kept warm) from ProvisionedConcurrencyConfig.
type Scaling struct {
	MaxCapacity *int           `yaml:"max_capacity,omitempty"`
	MinCapacity *int           `yaml:"min_capacity,omitempty"`
	Extra       map[string]any `yaml:",inline"`
}

// Event is something that invokes a function without a request: a schedule.
type Event struct {
	Schedule *Schedule      `yaml:"schedule,omitempty"`
	Extra    map[string]any `yaml:",inline"`
}

// Schedule is a rate(...) or cron(...) expression and the event's input (JSON text).
type Schedule struct {
	Rate  string `yaml:"rate"`
	Input string `yaml:"input,omitempty"`
}

// Routing is routing.yml.
type Routing struct {
	Routes []Route `yaml:"routes"`
}

// Route sends requests of Method (upper case) on Path ({name} segments are parameters) to the
// function named Function.
type Route struct {
	Path     string         `yaml:"path"`
	Method   string         `yaml:"method"`
	Function string         `yaml:"function"`
	Extra    map[string]any `yaml:",inline"`
}

// Key is what identifies a route: two routes of one key cannot both be served.
func (r Route) Key() string { return strings.ToUpper(r.Method) + " " + r.Path }

// Normalize upper-cases the routes' methods, sorts the routes by path, then method, and drops
// exact duplicates; empty maps
// become their canonical form. Equal configurations then encode to equal bytes. Sorting by path
// puts a literal segment before a {parameter} at the same place ('{' sorts after letters and
// digits), which is the order a first-match router needs.
func (c *Config) Normalize() {
	if c.Functions.Defaults == nil {
		c.Functions.Defaults = map[string]any{}
	}
	if c.Functions.Functions == nil {
		c.Functions.Functions = map[string]Function{}
	}
	routes := slices.Clone(c.Routing.Routes) // the caller's slice keeps its order
	for i := range routes {
		routes[i].Method = strings.ToUpper(routes[i].Method) // the gateway compares them so
	}
	sort.SliceStable(routes, func(a, b int) bool {
		if routes[a].Path != routes[b].Path {
			return routes[a].Path < routes[b].Path
		}
		return routes[a].Method < routes[b].Method
	})
	out := routes[:0]
	for i, r := range routes {
		if i > 0 && sameRoute(out[len(out)-1], r) {
			continue
		}
		out = append(out, r)
	}
	c.Routing.Routes = out
	if c.Routing.Routes == nil {
		c.Routing.Routes = []Route{}
	}
}

// Encode renders both files of c (normalized), each ending in a newline.
func Encode(c Config) (functions, routing []byte, err error) {
	c.Normalize()
	if functions, err = encode(c.Functions); err != nil {
		return nil, nil, fmt.Errorf("encode %s: %w", FunctionsFile, err)
	}
	if routing, err = encode(c.Routing); err != nil {
		return nil, nil, fmt.Errorf("encode %s: %w", RoutingFile, err)
	}
	return functions, routing, nil
}

func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeFunctions reads functions.yml; name is the file, for errors.
func DecodeFunctions(data []byte, name string) (Functions, error) {
	var f Functions
	if err := yaml.Unmarshal(data, &f); err != nil {
		return Functions{}, fmt.Errorf("read %s: %w: the runtime config must have `functions:` mapping each function name to its settings", name, err)
	}
	for fn, s := range f.Functions {
		if s.Image == "" {
			return Functions{}, fmt.Errorf("read %s: function %s has no image", name, fn)
		}
	}
	return f, nil
}

// DecodeRouting reads routing.yml; name is the file, for errors.
func DecodeRouting(data []byte, name string) (Routing, error) {
	var r Routing
	if err := yaml.Unmarshal(data, &r); err != nil {
		return Routing{}, fmt.Errorf("read %s: %w: the runtime config must have `routes:` listing path, method and function", name, err)
	}
	for i, route := range r.Routes {
		if route.Path == "" || route.Method == "" || route.Function == "" {
			return Routing{}, fmt.Errorf("read %s: route %d lacks its path, method or function", name, i+1)
		}
	}
	return r, nil
}
