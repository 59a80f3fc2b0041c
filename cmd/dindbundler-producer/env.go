package main

import (
	"strings"

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/producer/embedded"
)

// fromEnvironment fills what the contract flags do not carry from the project's configuration
// (environ, DEFAULTS_FILE and .env under the project root wd), resolved exactly as the bundler's
// Deploy stage resolves it.
func fromEnvironment(req *embedded.Request, wd string, environ []string) error {
	// TEMPLATE and the bundler's output settings are the bundler's business, not the command's:
	// the flags say which template and where.
	var own []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "TEMPLATE", "BUNDLE_MANIFEST_PATH":
			continue
		}
		own = append(own, kv)
	}
	c, err := config.Load(own, wd)
	if err != nil {
		return err
	}
	full, err := embedded.FromConfig(c, req.Template, req.OutputRoot)
	if err != nil {
		return err
	}
	full.Env, full.Mode = req.Env, req.Mode
	if strings.TrimSpace(config.EnvMap(own)["PROJECT_NAME"]) == "" {
		// The default project is <brand>-<env> of the --env flag, which Run fills in.
		full.Project = ""
	}
	*req = full
	return nil
}
