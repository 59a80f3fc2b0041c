package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dindbundler/dindbundler/sam"
	"github.com/dindbundler/dindbundler/samdeploy"
)

// fromEnvironment fills what the contract flags do not carry, from environ and the project root
// wd: the one place this command reads its environment, so it can be swapped for the config
// package's resolution.
func fromEnvironment(req *samdeploy.Request, wd string, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	get := func(k string) string { return strings.TrimSpace(env[k]) }
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(wd, p)
	}
	req.ProjectRoot = wd

	defaultsFile := abs(orDefault(get("DEFAULTS_FILE"), "config/defaults.env"))
	defaults, err := readEnvFile(defaultsFile)
	if err != nil {
		return err
	}
	req.Brand = strings.ToLower(orDefault(defaults["CLI_CMD"], samdeploy.DefaultBrand))

	dotenv, err := readEnvFile(filepath.Join(wd, ".env"))
	if err != nil {
		return err
	}
	req.Vars = make(map[string]string, len(dotenv)+len(env))
	for k, v := range dotenv {
		req.Vars[k] = v
	}
	for k, v := range env {
		req.Vars[k] = v
	}

	switch cf := get("COMPOSE_FILE"); {
	case cf != "":
		req.ComposeFile = abs(cf)
	case exists(filepath.Join(wd, "docker-compose.docker.yml")):
		req.ComposeFile = filepath.Join(wd, "docker-compose.docker.yml")
	case exists(filepath.Join(wd, "docker-compose.yml")):
		req.ComposeFile = filepath.Join(wd, "docker-compose.yml")
	}

	if req.ParameterOverrides, err = sam.ParseOverrides(get("PARAMETER_OVERRIDES")); err != nil {
		return fmt.Errorf("PARAMETER_OVERRIDES: %w", err)
	}
	req.Project = get("PROJECT_NAME")
	req.ImagePrefix = get("IMAGE_PREFIX")
	req.ImageTag = get("IMAGE_TAG")
	return nil
}

// readEnvFile reads KEY=VALUE lines (blank lines and # comments skipped, an optional export,
// values optionally quoted); a missing file is empty.
func readEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	vars := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("read %s line %d: want KEY=VALUE, got %q", path, i+1, line)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		} else if j := strings.Index(v, " #"); j >= 0 {
			v = strings.TrimSpace(v[:j]) // a comment after an unquoted value
		}
		vars[k] = v
	}
	return vars, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
