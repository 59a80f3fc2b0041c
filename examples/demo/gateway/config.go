package main

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Function is one entry of functions.yml.
type Function struct {
	Image       string            `yaml:"image"`
	Timeout     int               `yaml:"timeout"`
	MemorySize  int               `yaml:"memory_size"`
	Environment map[string]string `yaml:"environment"`
	Scaling     map[string]any    `yaml:"scaling"`
}

// FunctionsFile is functions.yml: defaults every function starts from, then the functions.
type FunctionsFile struct {
	Defaults struct {
		Environment map[string]string `yaml:"environment"`
		Scaling     map[string]any    `yaml:"scaling"`
	} `yaml:"defaults"`
	Functions map[string]Function `yaml:"functions"`
}

// Route is one entry of routing.yml.
type Route struct {
	Path     string `yaml:"path"`
	Method   string `yaml:"method"`
	Function string `yaml:"function"`
}

// RoutingFile is routing.yml.
type RoutingFile struct {
	Routes []Route `yaml:"routes"`
}

// Config is the runtime configuration the gateway serves.
type Config struct {
	Functions map[string]Function
	Routes    []Route
}

// LoadConfig reads functions.yml and routing.yml from dir. A missing file is an empty one: the
// stack starts before (or without) a deploy has written its configuration.
func LoadConfig(dir string) (Config, error) {
	var ff FunctionsFile
	var rf RoutingFile
	for name, into := range map[string]any{"functions.yml": &ff, "routing.yml": &rf} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Config{}, fmt.Errorf("read %s: %w", name, err)
		}
		if err := yaml.Unmarshal(data, into); err != nil {
			return Config{}, fmt.Errorf("read %s: %w", filepath.Join(dir, name), err)
		}
	}
	cfg := Config{Functions: map[string]Function{}, Routes: rf.Routes}
	for name, fn := range ff.Functions {
		env := maps.Clone(ff.Defaults.Environment)
		if env == nil {
			env = map[string]string{}
		}
		maps.Copy(env, fn.Environment) // a function's own value wins over the default
		fn.Environment = env
		if fn.Scaling == nil {
			fn.Scaling = ff.Defaults.Scaling
		}
		cfg.Functions[name] = fn
	}
	for i, r := range cfg.Routes {
		if _, ok := cfg.Functions[r.Function]; !ok {
			return Config{}, fmt.Errorf("routing.yml route %d (%s %s) names function %q, which functions.yml lacks", i+1, r.Method, r.Path, r.Function)
		}
	}
	return cfg, nil
}

// Match finds the route for method and path and the path parameters it binds: `{name}`
// matches one segment, `{name+}` the rest of the path; method ANY matches every method. Routes
// without parameters win over those with, as API Gateway prefers the most specific path.
func (c Config) Match(method, path string) (Route, map[string]string, bool) {
	segs := split(path)
	var best Route
	var bestParams map[string]string
	bestScore := -1
	for _, r := range c.Routes {
		if !strings.EqualFold(r.Method, method) && !strings.EqualFold(r.Method, "ANY") {
			continue
		}
		params, score, ok := matchPath(split(r.Path), segs)
		if ok && score > bestScore {
			best, bestParams, bestScore = r, params, score
		}
	}
	return best, bestParams, bestScore >= 0
}

// matchPath reports whether pattern matches segs; score counts the literal segments.
func matchPath(pattern, segs []string) (map[string]string, int, bool) {
	params := map[string]string{}
	score := 0
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}") {
			if i >= len(segs) {
				return nil, 0, false
			}
			params[p[1:len(p)-2]] = strings.Join(segs[i:], "/")
			return params, score, true
		}
		if i >= len(segs) {
			return nil, 0, false
		}
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			params[p[1:len(p)-1]] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, 0, false
		}
		score++
	}
	if len(pattern) != len(segs) {
		return nil, 0, false
	}
	return params, score, true
}

func split(path string) []string {
	path = strings.Trim(path, "/")
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}

// configCache reloads the configuration when either file changed, so a stack that started
// before its configuration was written serves it once it is.
type configCache struct {
	dir string

	mu    sync.Mutex
	stamp string
	cfg   Config
	err   error
}

func (c *configCache) get() (Config, error) {
	var stamp strings.Builder
	for _, name := range []string{"functions.yml", "routing.yml"} {
		if fi, err := os.Stat(filepath.Join(c.dir, name)); err == nil {
			fmt.Fprintf(&stamp, "%s %d %s;", name, fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := stamp.String(); s != c.stamp || (c.cfg.Functions == nil && c.err == nil) {
		c.cfg, c.err = LoadConfig(c.dir)
		c.stamp = s
	}
	return c.cfg, c.err
}
