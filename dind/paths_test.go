package dind_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/internal/buildctx"
	"github.com/dindbundler/dindbundler/internal/bundleimage"
)

// The shell side spells the bundle's paths as the Go side's constants say (a grep-level check:
// the lines below must be in the files as they are), sources every part the bundle installs, and
// the Dockerfile copies the context to those paths.
func TestScriptsUseBundlePaths(t *testing.T) {
	is := is.New(t)
	under := func(p, dir string) string { // p as the entrypoint spells it: $app_dir/…
		is.True(strings.HasPrefix(p, dir+"/"))
		return strings.TrimPrefix(p, dir)
	}
	want := map[string][]string{
		"entrypoint.sh": {
			"app_dir=" + dind.AppDir + "\n",
			"compose_file=$app_dir" + under(dind.ComposeFile, dind.AppDir) + "\n",
			"env_file=$app_dir" + under(dind.EnvFile, dind.AppDir) + "\n",
			"images_txt=$app_dir" + under(dind.ImagesList, dind.AppDir) + "\n",
			"manifest=$app_dir" + under(dind.ManifestFile, dind.AppDir) + "\n",
			"images_dir=" + dind.ImagesDir + "\n",
		},
		"registry.sh": {
			"registry_index=$app_dir" + under(dind.RegistryIndex, dind.AppDir) + "\n",
			"served_txt=$app_dir" + under(dind.ServedList, dind.AppDir) + "\n",
		},
		"Dockerfile": {
			"COPY " + bundleimage.Dir + "/ " + dind.ImagesDir + "/\n",
			"COPY entrypoint.sh " + dind.EntrypointPath + "\n",
			"COPY " + buildctx.BinDir + "/ " + dind.BinDir + "/\n",
			"COPY app/ " + dind.AppDir + "/\n",
			"chown 0:0 " + dind.EnvFile + ";",
			"chmod 0755 " + dind.EntrypointPath + ";",
			`CMD ["` + dind.EntrypointPath + `", "health"]`,
			`ENTRYPOINT ["` + dind.EntrypointPath + `"]`,
		},
	}
	var sourced []string
	for _, part := range dind.RuntimeFiles() {
		is.True(strings.HasPrefix(part.Installed, dind.InstalledPrefix))
		is.True(len(part.Data) > 0)
		want["entrypoint.sh"] = append(want["entrypoint.sh"], `. "$bin_dir/`+part.Installed+`"`+"\n")
		sourced = append(sourced, part.Installed)
	}
	is.True(slices.Contains(sourced, dind.InstalledPrefix+"registry.sh")) // the list is the embedded files
	for file, lines := range want {
		data, err := os.ReadFile(file)
		is.NoErr(err)
		for _, line := range lines {
			if !strings.Contains(string(data), line) {
				t.Errorf("dind/%s lacks %q: it must spell the path as package dind's paths.go does", file, line)
			}
		}
	}
	// Every part the entrypoint sources is one the bundle installs.
	ep, err := os.ReadFile("entrypoint.sh")
	is.NoErr(err)
	for _, line := range strings.Split(string(ep), "\n") {
		if name, ok := strings.CutPrefix(line, `. "$bin_dir/`); ok && !slices.Contains(sourced, strings.TrimSuffix(name, `"`)) {
			t.Errorf("dind/entrypoint.sh sources %s, which is not among dind.RuntimeFiles: add it to dind.go's go:embed line", name)
		}
	}
	is.Equal(dind.Rel(dind.ManifestFile), "app/bundle/manifest.json")
	// The context's images directory is the bundle's, without its "/" (buildctx.Layer keeps
	// its entries' names).
	is.Equal(bundleimage.Dir, dind.Rel(dind.ImagesDir))
}
