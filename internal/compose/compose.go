// Package compose reads the little of a docker compose file the producer needs: which services
// run a prebuilt image and which build one, with their build settings, after compose-style
// variable interpolation. It does no I/O beyond reading the file, and it is no compose
// implementation: it never runs or validates a stack.
package compose

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dindbundler/dindbundler/internal/userfile"
)

// File is a parsed compose file.
type File struct {
	Path     string    // as given to ParseFile
	Dir      string    // absolute directory; relative build contexts resolve here
	Services []Service // sorted by name
	// Unset lists the variables used without a value (compose warns about these and substitutes
	// an empty string).
	Unset []string
	// Used lists every variable the parse looked up, set or not: what the services' images and
	// builds depend on besides the file.
	Used []string
}

// Service is one entry of services:.
type Service struct {
	Name     string
	Image    string // image:, interpolated; "" when absent
	Build    *Build // nil when the service has no build:
	Platform string // platform:, interpolated
}

// Build is a service's build: section.
type Build struct {
	Context    string            // absolute directory
	Dockerfile string            // relative to Context, slash-separated; default "Dockerfile"
	Args       map[string]string // only the args that have a value
	Labels     map[string]string
	Target     string
}

// ParseFile reads and parses a compose file; vars are the interpolation variables (.env values
// overlaid by the environment).
func ParseFile(path string, vars map[string]string) (*File, error) {
	data, err := userfile.ReadFile("compose file", path)
	if err != nil {
		return nil, fmt.Errorf("read compose file: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read compose file %s: %w", path, err)
	}
	f, err := Parse(data, filepath.Dir(abs), vars)
	if err != nil {
		return nil, fmt.Errorf("compose file %s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// rawService holds the fields we read; everything else in the file is ignored, and only these
// fields are interpolated, so a variable that only the running stack provides (a volume path, a
// container environment value) cannot fail the build.
type rawService struct {
	Image    *string   `yaml:"image"`
	Build    yaml.Node `yaml:"build"`
	Platform string    `yaml:"platform"`
}

type rawBuild struct {
	Context          string    `yaml:"context"`
	Dockerfile       string    `yaml:"dockerfile"`
	DockerfileInline string    `yaml:"dockerfile_inline"`
	Args             yaml.Node `yaml:"args"`
	Labels           yaml.Node `yaml:"labels"`
	Target           string    `yaml:"target"`
}

// Parse parses compose file text; dir is the file's absolute directory.
func Parse(data []byte, dir string, vars map[string]string) (f *File, err error) {
	// yaml.v3 has panicked on malformed input in the past; a bad file must be an error.
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	var raw struct {
		Services map[string]rawService `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	in := &interpolator{lookup: mapLookup(vars)}
	f = &File{Dir: dir}
	for name, rs := range raw.Services {
		s := Service{Name: name}
		if rs.Image != nil {
			if s.Image, err = in.run(*rs.Image); err != nil {
				return nil, serviceError(name, "image", *rs.Image, err)
			}
		}
		if s.Platform, err = in.run(rs.Platform); err != nil {
			return nil, serviceError(name, "platform", rs.Platform, err)
		}
		if rs.Build.Kind != 0 && rs.Build.Tag != "!!null" {
			if s.Build, err = parseBuild(name, &rs.Build, dir, in); err != nil {
				return nil, err
			}
		}
		if s.Image == "" && s.Build == nil {
			return nil, fmt.Errorf("service %s has neither image nor build (extends is not supported): give it one of them", name)
		}
		f.Services = append(f.Services, s)
	}
	sort.Slice(f.Services, func(i, j int) bool { return f.Services[i].Name < f.Services[j].Name })
	f.Unset, f.Used = in.unsetNames(), in.usedNames()
	return f, nil
}

func serviceError(service, field, value string, err error) error {
	return fmt.Errorf("service %s %s %q: %w", service, field, value, err)
}

func parseBuild(service string, n *yaml.Node, dir string, in *interpolator) (*Build, error) {
	var rb rawBuild
	switch n.Kind {
	case yaml.ScalarNode:
		rb.Context = n.Value // build: ./dir
	case yaml.MappingNode:
		if err := n.Decode(&rb); err != nil {
			return nil, fmt.Errorf("service %s build: %w", service, err)
		}
	default:
		return nil, fmt.Errorf("service %s build: want a path or a mapping (line %d)", service, n.Line)
	}
	if rb.DockerfileInline != "" {
		return nil, fmt.Errorf("service %s build.dockerfile_inline is not supported: put the Dockerfile in the build context and name it with build.dockerfile", service)
	}
	var b Build
	var err error
	ctxDir := rb.Context
	if ctxDir, err = in.run(ctxDir); err != nil {
		return nil, serviceError(service, "build.context", rb.Context, err)
	}
	if ctxDir == "" {
		ctxDir = "."
	}
	if strings.Contains(ctxDir, "://") || strings.HasPrefix(ctxDir, "git@") {
		return nil, fmt.Errorf("service %s build.context %q is a remote context: only local directories can be built offline; clone it and point build.context at the directory", service, ctxDir)
	}
	if !filepath.IsAbs(ctxDir) {
		ctxDir = filepath.Join(dir, ctxDir)
	}
	b.Context = filepath.Clean(ctxDir)

	df, err := in.run(rb.Dockerfile)
	if err != nil {
		return nil, serviceError(service, "build.dockerfile", rb.Dockerfile, err)
	}
	if df == "" {
		df = "Dockerfile"
	}
	if filepath.IsAbs(df) {
		rel, err := filepath.Rel(b.Context, df)
		if err != nil {
			return nil, fmt.Errorf("service %s build.dockerfile %s: %w", service, df, err)
		}
		df = rel
	}
	df = filepath.ToSlash(filepath.Clean(df))
	if df == ".." || strings.HasPrefix(df, "../") {
		return nil, fmt.Errorf("service %s build.dockerfile %q lies outside the build context %s: move it into the context", service, rb.Dockerfile, b.Context)
	}
	b.Dockerfile = df

	if b.Target, err = in.run(rb.Target); err != nil {
		return nil, serviceError(service, "build.target", rb.Target, err)
	}
	if b.Args, err = keyValues(service, "build.args", &rb.Args, in, true); err != nil {
		return nil, err
	}
	if b.Labels, err = keyValues(service, "build.labels", &rb.Labels, in, false); err != nil {
		return nil, err
	}
	return &b, nil
}

// keyValues reads a compose map-or-list ({K: v} or [K=v, K]). An entry without a value takes
// the variable of that name when fromVars (compose's rule for build args), and is dropped when
// that is unset too; otherwise it is an empty string.
func keyValues(service, field string, n *yaml.Node, in *interpolator, fromVars bool) (map[string]string, error) {
	if n.Kind == 0 || n.Tag == "!!null" {
		return nil, nil
	}
	out := map[string]string{}
	set := func(k string, v *string) error {
		if v == nil {
			if !fromVars {
				out[k] = ""
				return nil
			}
			if val, ok := in.get(k); ok {
				out[k] = val
			}
			return nil
		}
		val, err := in.run(*v)
		if err != nil {
			return serviceError(service, field+"."+k, *v, err)
		}
		out[k] = val
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("service %s %s.%s: want a scalar value (line %d)", service, field, k.Value, v.Line)
			}
			var val *string
			if v.Tag != "!!null" {
				val = &v.Value
			}
			if err := set(k.Value, val); err != nil {
				return nil, err
			}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("service %s %s: want KEY=VALUE items (line %d)", service, field, item.Line)
			}
			k, v, ok := strings.Cut(item.Value, "=")
			var val *string
			if ok {
				val = &v
			}
			if err := set(k, val); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("service %s %s: want a mapping or a list (line %d)", service, field, n.Line)
	}
	return out, nil
}
