package compose

import (
	"strings"
	"testing"

	"github.com/matryer/is"
	"gopkg.in/yaml.v3"
)

const refsFile = `services:
  api:
    image: api:1
    env_file: ./extra.env
    volumes:
      - ./data:/data
      - /var/lib/x:/x:ro
      - named:/named
      - /anonymous
      - type: bind
        source: ${CONF_DIR:-./conf}
        target: /etc/app
      - type: volume
        source: other
        target: /other
  worker:
    image: worker:1
    env_file:
      - common.env
      - path: ./optional.env
        required: false
secrets:
  db:
    file: ./secrets/db.txt
  ext:
    external: true
configs:
  nginx:
    file: ../shared/nginx.conf
`

func TestReferences(t *testing.T) {
	is := is.New(t)
	doc, err := References([]byte(refsFile), "/p/stack", map[string]string{})
	is.NoErr(err)
	type row struct {
		kind, where, value, path string
		abs, optional            bool
	}
	var got []row
	for _, r := range doc.Refs {
		got = append(got, row{r.Kind, r.Where, r.Value, r.Path, r.Absolute, r.Optional})
	}
	is.Equal(got, []row{
		{RefBind, "service api volumes", "./data", "/p/stack/data", false, false},
		{RefBind, "service api volumes", "/var/lib/x", "/var/lib/x", true, false},
		{RefBind, "service api volumes", "./conf", "/p/stack/conf", false, false},
		{RefEnvFile, "service api", "./extra.env", "/p/stack/extra.env", false, false},
		{RefEnvFile, "service worker", "common.env", "/p/stack/common.env", false, false},
		{RefEnvFile, "service worker", "./optional.env", "/p/stack/optional.env", false, true},
		{RefSecret, "secrets.db", "./secrets/db.txt", "/p/stack/secrets/db.txt", false, false},
		{RefConfig, "configs.nginx", "../shared/nginx.conf", "/p/shared/nginx.conf", false, false},
	})
}

func TestRewrite(t *testing.T) {
	is := is.New(t)
	doc, err := References([]byte(refsFile), "/p/stack", map[string]string{"T": "unused"})
	is.NoErr(err)
	to := map[int]string{}
	for i, r := range doc.Refs {
		if !r.Absolute {
			to[i] = "/app/files/" + strings.TrimPrefix(r.Path, "/p/")
		}
	}
	out, err := doc.Rewrite(to)
	is.NoErr(err)
	var back struct {
		Services map[string]struct {
			Volumes []any `yaml:"volumes"`
			EnvFile any   `yaml:"env_file"`
		} `yaml:"services"`
		Secrets map[string]map[string]any `yaml:"secrets"`
		Configs map[string]map[string]any `yaml:"configs"`
	}
	is.NoErr(yaml.Unmarshal(out, &back))
	api := back.Services["api"]
	is.Equal(api.Volumes[0], "/app/files/stack/data:/data") // target kept
	is.Equal(api.Volumes[1], "/var/lib/x:/x:ro")            // a host path is left for the warning
	is.Equal(api.Volumes[2], "named:/named")
	is.Equal(api.Volumes[4].(map[string]any)["source"], "/app/files/stack/conf")
	is.Equal(api.Volumes[5].(map[string]any)["source"], "other")
	is.Equal(api.EnvFile, "/app/files/stack/extra.env")
	worker := back.Services["worker"].EnvFile.([]any)
	is.Equal(worker[0], "/app/files/stack/common.env")
	is.Equal(worker[1].(map[string]any)["path"], "/app/files/stack/optional.env")
	is.Equal(back.Secrets["db"]["file"], "/app/files/stack/secrets/db.txt")
	is.Equal(back.Secrets["ext"]["external"], true)
	is.Equal(back.Configs["nginx"]["file"], "/app/files/shared/nginx.conf")
}

// TestReferencesUnresolved: a required variable the bundle's .env does not set is left for the
// container's environment at boot, and said.
func TestReferencesUnresolved(t *testing.T) {
	is := is.New(t)
	text := "services:\n  a:\n    image: a\n    volumes: ['${CERT_DIR:?set CERT_DIR}:/certs:ro']\n    env_file: ${ENV_FILE:?x}\n"
	doc, err := References([]byte(text), "/p", nil)
	is.NoErr(err)
	is.Equal(len(doc.Refs), 0)
	is.Equal(len(doc.Unresolved), 2)
	is.True(strings.Contains(doc.Unresolved[0], "set CERT_DIR"))
	doc, err = References([]byte(text), "/p", map[string]string{"CERT_DIR": "/root/.esb/certs", "ENV_FILE": "x.env"})
	is.NoErr(err)
	is.Equal(doc.Refs[0].Path, "/root/.esb/certs")
	is.True(doc.Refs[0].Absolute)
	is.Equal(doc.Refs[1].Path, "/p/x.env")
}

func TestReferencesNone(t *testing.T) {
	is := is.New(t)
	doc, err := References([]byte("services:\n  a:\n    image: a\n    volumes: [data:/data]\nvolumes:\n  data: {}\n"), "/p", nil)
	is.NoErr(err)
	is.Equal(len(doc.Refs), 0)
	_, err = References([]byte("services: ["), "/p", nil)
	is.True(err != nil)
}
