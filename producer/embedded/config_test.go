package embedded

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/config"
)

// ENV_VARS_FILE and LAYER_MAP, from the environment or .env, reach the producer's request.
func TestFromConfigOfflineInputs(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	is.NoErr(os.WriteFile(filepath.Join(dir, "env.json"), []byte(`{"Orders": {"TABLE": "local"}}`), 0o644))
	const arn = "arn:aws:lambda:us-east-1:1:layer:x:3"
	c, err := config.Load([]string{"TEMPLATE=template.yaml", "ENV_VARS_FILE=env.json", "LAYER_MAP=" + arn + "=vendor/x"}, dir)
	is.NoErr(err)
	req, err := FromConfig(c, c.Templates[0])
	is.NoErr(err)
	is.Equal(req.EnvVars, map[string]map[string]string{"Orders": {"TABLE": "local"}})
	is.Equal(req.LayerMap, map[string]string{arn: filepath.Join(dir, "vendor/x")})

	c, err = config.Load([]string{"TEMPLATE=template.yaml", "LAYER_MAP=missing.map"}, dir)
	is.NoErr(err)
	_, err = FromConfig(c, c.Templates[0])
	is.True(err != nil && strings.Contains(err.Error(), "LAYER_MAP=missing.map")) // names the variable
}

func TestSplitList(t *testing.T) {
	is := is.New(t)
	is.Equal(splitList(""), []string(nil))
	is.Equal(splitList(" unix:///a.sock , ,tcp://10.0.0.2:1234,engine"), []string{"unix:///a.sock", "tcp://10.0.0.2:1234", "engine"})
}
