package sam

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/dindbundler/dindbundler/internal/userfile"
)

// ParseEnvVars reads an ENV_VARS_FILE in `sam local --env-vars` format:
// {"FunctionLogicalIdOrName": {"VAR": "value"}, "Parameters": {"VAR": "value"}}. Values may be
// strings, numbers or booleans (written as text, as sam local does); null is an empty string.
func ParseEnvVars(data []byte) (map[string]map[string]string, error) {
	var raw map[string]map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf(`read environment overrides: %w: write them as sam local --env-vars takes them, {"FunctionName": {"VAR": "value"}, "Parameters": {"VAR": "value"}}`, err)
	}
	out := make(map[string]map[string]string, len(raw))
	for fn, vars := range raw {
		m := make(map[string]string, len(vars))
		for k, v := range vars {
			switch v := v.(type) {
			case string:
				m[k] = v
			case json.Number:
				m[k] = v.String()
			case bool:
				m[k] = fmt.Sprint(v)
			case nil:
				m[k] = ""
			default:
				return nil, fmt.Errorf("environment override %s.%s must be a string, number or boolean, not a list or object", fn, k)
			}
		}
		out[fn] = m
	}
	return out, nil
}

// applyEnvVars overrides f's declared environment variables as `sam local` does: "Parameters"
// first, then the entry of the function's logical ID (or, without one, its FunctionName).
// Variables the template does not declare are not added.
func applyEnvVars(f *Function, envVars map[string]map[string]string) {
	if len(envVars) == 0 || len(f.Environment) == 0 {
		return
	}
	over := map[string]string{}
	for k, v := range envVars["Parameters"] {
		over[k] = v
	}
	fn, ok := envVars[f.LogicalID]
	if !ok {
		fn = envVars[f.Name]
	}
	for k, v := range fn {
		over[k] = v
	}
	for k := range f.Environment {
		if v, ok := over[k]; ok {
			f.Environment[k] = v
		}
	}
}

// ParseLayerMap reads LAYER_MAP entries, ARN=path, separated by commas or new lines (a file of
// such lines may have # comments). Relative paths resolve against dir.
func ParseLayerMap(s, dir string) (map[string]string, error) {
	out := map[string]string{}
	var fields []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); !strings.HasPrefix(line, "#") {
			fields = append(fields, strings.Split(line, ",")...)
		}
	}
	for _, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		arn, path, ok := strings.Cut(f, "=")
		arn, path = strings.TrimSpace(arn), strings.TrimSpace(path)
		if !ok || !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":layer:") || path == "" {
			return nil, fmt.Errorf("LAYER_MAP entry %q: write ARN=local directory or .zip, e.g. arn:aws:lambda:us-east-1:123456789012:layer:common:3=layers/common", f)
		}
		if _, dup := out[arn]; dup {
			return nil, fmt.Errorf("LAYER_MAP maps %s twice: keep one", arn)
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		out[arn] = filepath.Clean(path)
	}
	return out, nil
}

// layerARNVersionless is a layer version ARN without its version (…:layer:name:7 → …:layer:name).
func layerARNVersionless(arn string) string {
	i := strings.Index(arn, ":layer:")
	if i < 0 {
		return arn
	}
	rest := arn[i+len(":layer:"):]
	if j := strings.IndexByte(rest, ':'); j >= 0 {
		return arn[:i+len(":layer:")+j]
	}
	return arn
}

// mappedLayer finds a published layer in LAYER_MAP: by its full ARN, else by the ARN without
// its version.
func mappedLayer(layerMap map[string]string, arn string) (string, bool) {
	if p, ok := layerMap[arn]; ok {
		return p, true
	}
	p, ok := layerMap[layerARNVersionless(arn)]
	return p, ok
}

// The variables that name the offline inputs of a template's functions.
const (
	EnvVarsFileVariable = "ENV_VARS_FILE"
	LayerMapVariable    = "LAYER_MAP"
)

// LoadEnvVars reads the ENV_VARS_FILE at path (absolute, as internal/config resolves it); nil
// when path is empty.
func LoadEnvVars(path string) (map[string]map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	data, err := userfile.ReadFile(EnvVarsFileVariable, path)
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w: point it at a JSON file in sam local --env-vars format, or unset it", EnvVarsFileVariable, path, err)
	}
	envVars, err := ParseEnvVars(data)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", EnvVarsFileVariable, path, err)
	}
	return envVars, nil
}

// LoadLayerMap reads LAYER_MAP's value as internal/config holds it: either ARN=path entries
// separated by commas, or the path of a file holding such entries one a line (relative paths in
// it resolve against its directory), relative to workDir. file is that file's absolute path, ""
// for inline entries.
func LoadLayerMap(value, workDir string) (layerMap map[string]string, file string, err error) {
	if value == "" {
		return nil, "", nil
	}
	if !strings.HasPrefix(value, "arn:") {
		file = absIn(workDir, value)
		data, err := userfile.ReadFile(LayerMapVariable, file)
		if err != nil {
			return nil, "", fmt.Errorf("%s=%s is neither ARN=path entries nor a readable file: %w", LayerMapVariable, value, err)
		}
		m, err := ParseLayerMap(string(data), filepath.Dir(file))
		if err != nil {
			return nil, "", fmt.Errorf("%s file %s: %w", LayerMapVariable, file, err)
		}
		return m, file, nil
	}
	m, err := ParseLayerMap(value, workDir)
	return m, "", err
}

func absIn(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}
