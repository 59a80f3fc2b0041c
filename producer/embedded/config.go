package embedded

import (
	"github.com/dindbundler/dindbundler/internal/buildkit"
	"strings"

	"fmt"
	"os"

	"github.com/dindbundler/dindbundler/internal/builddir"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/producer/sam"
)

// FromConfig is the request for template t of a resolved configuration: the one place where
// configuration becomes a producer request, shared by the Deploy stage and the command. Every
// default (brand, project, image prefix and tag, output root) is config's.
func FromConfig(c config.Config, t config.Template) (Request, error) {
	overrides, err := sam.ParseOverrides(c.ParameterOverrides)
	if err != nil {
		return Request{}, fmt.Errorf("PARAMETER_OVERRIDES: %w", err)
	}
	envVars, err := sam.LoadEnvVars(c.EnvVarsFile)
	if err != nil {
		return Request{}, err
	}
	layerMap, _, err := sam.LoadLayerMap(c.LayerMap, c.WorkDir)
	if err != nil {
		return Request{}, err
	}
	compose := c.ComposeFile
	if _, err := os.Stat(compose); err != nil && !c.ComposeExplicit {
		compose = "" // no compose file by default: no service images
	}
	return Request{
		Template: t.Path, Env: c.Env, Mode: ModeDocker, OutputRoot: t.OutputRoot,
		ProjectRoot: c.WorkDir, Root: c.ProjectRoot, ComposeFile: compose, Brand: c.Brand.Slug, Project: c.Project,
		ImagePrefix: c.ImagePrefix, ImageTag: c.ImageTag, ContainerRegistry: c.ContainerRegistry,
		ParameterOverrides: overrides, Vars: c.Vars, RuntimeBases: c.RuntimeBases,
		EnvVars: envVars, LayerMap: layerMap,
		Exclude:     []string{c.BuildDir},
		ImageLayout: builddir.Dir(c.BuildDir).ImageLayout(),
		Force:       c.Force,
		Builder:     c.Vars[BuilderVariable], BuildKitHost: c.Vars[buildkit.HostVariable],
		BuildCache: c.Vars[buildkit.CacheVariable], Builders: splitList(c.Vars[BuildersVariable]),
	}, nil
}

// splitList is a comma-separated list without its empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
