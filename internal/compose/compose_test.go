package compose

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestInterpolate(t *testing.T) {
	vars := map[string]string{"A": "a", "EMPTY": "", "B": "b", "DIR": "/srv/x"}
	tests := []struct {
		in, want string
		err      string // substring of the error; "" for success
	}{
		{in: "plain", want: "plain"},
		{in: "", want: ""},
		{in: "$A", want: "a"},
		{in: "${A}", want: "a"},
		{in: "x${A}y$B.z", want: "xayb.z"},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "$$A", want: "$A"},
		{in: "cost $$5", want: "cost $5"},
		{in: "$UNSET", want: ""},
		{in: "${UNSET}", want: ""},
		{in: "${A_1:-d}", want: "d"},
		{in: "${UNSET:-def}", want: "def"},
		{in: "${EMPTY:-def}", want: "def"},
		{in: "${A:-def}", want: "a"},
		{in: "${UNSET-def}", want: "def"},
		{in: "${EMPTY-def}", want: ""},
		{in: "${UNSET:-}", want: ""},
		{in: "${UNSET:-127.0.0.1:5000}/example/logs:1.0", want: "127.0.0.1:5000/example/logs:1.0"},
		{in: "${UNSET:-${B}}", want: "b"},
		{in: "${UNSET:-${ALSO_UNSET:-deep}}/x", want: "deep/x"},
		{in: "${UNSET:-a}}", want: "a}"},
		{in: "${A:?must be set}", want: "a"},
		{in: "${EMPTY?must be set}", want: ""},
		{in: "${UNSET:?must be set}", err: "required variable UNSET is missing a value: must be set"},
		{in: "${EMPTY:?no empty}", err: "required variable EMPTY is missing a value: no empty"},
		{in: "${UNSET?gone}", err: "required variable UNSET is missing a value: gone"},
		{in: "${UNSET:?}", err: "required variable UNSET is missing a value"},
		{in: "${A:+alt}", want: "alt"},
		{in: "${EMPTY:+alt}", want: ""},
		{in: "${EMPTY+alt}", want: "alt"},
		{in: "${UNSET+alt}", want: ""},
		{in: "${DIR}/certs", want: "/srv/x/certs"},
		{in: "$", err: "a $ at the end"},
		{in: "a$1", err: "$1 is not a variable"},
		{in: "${A", err: "without a closing }"},
		{in: "${}", err: "does not start with a variable name"},
		{in: "${1A}", err: "does not start with a variable name"},
		{in: "${A:}", err: "missing operator"},
		{in: "${A:=x}", err: "unsupported operator"},
		{in: "${A%x}", err: "unsupported operator"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			is := is.New(t)
			got, err := Interpolate(tt.in, vars)
			if tt.err != "" {
				is.True(err != nil) // want an error
				is.True(strings.Contains(err.Error(), tt.err))
				is.True(strings.Contains(err.Error(), tt.in)) // the error names the value
				return
			}
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
}

func TestParse(t *testing.T) {
	dir := "/proj"
	vars := map[string]string{"REG": "reg.local:5000", "VERSION": "2", "FROM_ENV": "env-value", "CTX": "svc"}
	tests := []struct {
		name  string
		yaml  string
		want  []Service
		unset []string
		err   string
	}{
		{
			name: "image only and build string",
			yaml: `
services:
  web:
    build: ./web
  logs:
    image: ${REG:-127.0.0.1:5000}/example/logs:1.0
    volumes: ["${NOT_NEEDED:?only at run time}:/data"]
`,
			want: []Service{
				{Name: "logs", Image: "reg.local:5000/example/logs:1.0"},
				{Name: "web", Build: &Build{Context: "/proj/web", Dockerfile: "Dockerfile"}},
			},
		},
		{
			name: "build mapping with args labels target and image",
			yaml: `
services:
  api:
    image: myorg/api:${VERSION}
    platform: linux/arm64
    build:
      context: ${CTX}
      dockerfile: docker/Dockerfile.prod
      target: runtime
      args:
        PLAIN: "1"
        NUM: 3
        FROM_ENV:
        MISSING:
        INTERP: v${VERSION}
      labels:
        - org.example.team=core
`,
			want: []Service{{
				Name: "api", Image: "myorg/api:2", Platform: "linux/arm64",
				Build: &Build{
					Context: "/proj/svc", Dockerfile: "docker/Dockerfile.prod", Target: "runtime",
					Args:   map[string]string{"PLAIN": "1", "NUM": "3", "FROM_ENV": "env-value", "INTERP": "v2"},
					Labels: map[string]string{"org.example.team": "core"},
				},
			}},
		},
		{
			name: "args as a list, absolute context, dockerfile given absolute",
			yaml: `
services:
  s:
    build:
      context: /abs/ctx
      dockerfile: /abs/ctx/sub/Dockerfile
      args: ["A=1", "FROM_ENV", "NOPE", "EMPTY="]
`,
			want: []Service{{Name: "s", Build: &Build{
				Context: "/abs/ctx", Dockerfile: "sub/Dockerfile",
				Args: map[string]string{"A": "1", "FROM_ENV": "env-value", "EMPTY": ""},
			}}},
		},
		{
			name: "anchors and merge keys",
			yaml: `
x-base: &base
  build:
    context: .
services:
  one:
    <<: *base
  two:
    <<: *base
    image: two:${UNSET_TAG}
`,
			want: []Service{
				{Name: "one", Build: &Build{Context: "/proj", Dockerfile: "Dockerfile"}},
				{Name: "two", Image: "two:", Build: &Build{Context: "/proj", Dockerfile: "Dockerfile"}},
			},
			unset: []string{"UNSET_TAG"},
		},
		{name: "no services", yaml: "version: '3'\n", want: nil},
		{name: "required variable", yaml: "services:\n  a:\n    image: ${IMG:?set IMG to the image}\n", err: "service a image \"${IMG:?set IMG to the image}\": required variable IMG is missing a value: set IMG to the image"},
		{name: "neither image nor build", yaml: "services:\n  a:\n    ports: [\"80:80\"]\n", err: "service a has neither image nor build"},
		{name: "remote context", yaml: "services:\n  a:\n    build: https://github.com/x/y.git\n", err: "remote context"},
		{name: "dockerfile outside context", yaml: "services:\n  a:\n    build:\n      context: web\n      dockerfile: ../Dockerfile\n", err: "outside the build context"},
		{name: "dockerfile_inline", yaml: "services:\n  a:\n    build:\n      dockerfile_inline: FROM scratch\n", err: "dockerfile_inline is not supported"},
		{name: "bad yaml", yaml: "services: [\n", err: "yaml"},
		{name: "bad build", yaml: "services:\n  a:\n    build: [1]\n", err: "want a path or a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			f, err := Parse([]byte(tt.yaml), dir, vars)
			if tt.err != "" {
				is.True(err != nil) // want an error
				is.True(strings.Contains(err.Error(), tt.err))
				return
			}
			is.NoErr(err)
			is.Equal(f.Dir, dir)
			is.Equal(f.Services, tt.want)
			is.Equal(f.Unset, tt.unset)
		})
	}
}

func TestParseFile(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "docker-compose.yml")
	is.NoErr(os.WriteFile(path, []byte("services:\n  gw:\n    build: gateway\n"), 0o644))
	f, err := ParseFile(path, nil)
	is.NoErr(err)
	is.Equal(f.Path, path)
	is.Equal(f.Services[0].Build.Context, filepath.Join(dir, "gateway"))

	_, err = ParseFile(filepath.Join(dir, "missing.yml"), nil)
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "read compose file"))
}
