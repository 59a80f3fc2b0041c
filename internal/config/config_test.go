package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/layerfile"
)

// workspace creates a work directory holding files (path relative to it, slash separated →
// content; a path ending in "/" is an empty directory).
func workspace(t *testing.T, files map[string]string) string {
	t.Helper()
	wd := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(wd, filepath.FromSlash(rel))
		if strings.HasSuffix(rel, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return wd
}

// environ replaces {wd} in each entry so a case can name absolute paths inside its work dir.
func environ(entries []string, wd string) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = strings.ReplaceAll(e, "{wd}", wd)
	}
	return out
}

type loadCase struct {
	name    string
	files   map[string]string
	environ []string
	check   func(is *is.I, c Config, wd string)
}

func runLoadCases(t *testing.T, cases []loadCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			wd := workspace(t, tc.files)
			c, err := Load(environ(tc.environ, wd), wd)
			is.NoErr(err)
			is.Equal(c.WorkDir, wd)
			tc.check(is, c, wd)
		})
	}
}

type errCase struct {
	name    string
	files   map[string]string
	environ []string
	want    []string // substrings of the error; {wd} is replaced by the work dir
}

func runErrCases(t *testing.T, cases []errCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			wd := workspace(t, tc.files)
			c, err := Load(environ(tc.environ, wd), wd)
			is.True(err != nil)     // Load must fail
			is.Equal(c.WorkDir, "") // no half-resolved config on error
			for _, w := range tc.want {
				w = strings.ReplaceAll(w, "{wd}", wd)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadBrand(t *testing.T) {
	runLoadCases(t, []loadCase{
		{
			name: "no defaults file: esb brand",
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.DefaultsFile, filepath.Join(wd, "config", "defaults.env"))
				is.Equal(c.Brand, Brand{CLICmd: "esb", Slug: "esb", EnvPrefix: "ESB"})
				is.Equal(c.BundleTag, "esb-dind-bundle:latest")
				is.Equal(c.CertDir, filepath.Join(wd, ".esb", "certs"))
				is.Equal(c.CertTarget, "/root/.esb/certs")
				is.Equal(c.ImagePrefix, "esb")
				is.Equal(c.Project, "esb-default")
			},
		},
		{
			name:    "CLI_CMD from the default defaults file, lower-cased into the slug",
			files:   map[string]string{"config/defaults.env": "# brand\nCLI_CMD=Acme\n"},
			environ: []string{"TEMPLATE=sam/template.yaml"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.Brand, Brand{CLICmd: "Acme", Slug: "acme", EnvPrefix: "ESB"})
				is.Equal(c.BundleTag, "acme-dind-bundle:latest")
				is.Equal(c.CertDir, filepath.Join(wd, ".acme", "certs"))
				is.Equal(c.CertTarget, "/root/.acme/certs")
				is.Equal(c.ImagePrefix, "acme")
				is.Equal(c.Project, "acme-default")
				is.Equal(len(c.Templates), 1)
				is.Equal(c.Templates[0].OutputRoot, filepath.Join(wd, "sam", ".acme"))
			},
		},
		{
			name:  "ENV_PREFIX: ACME_ENV read, ESB_ENV ignored",
			files: map[string]string{"config/defaults.env": "CLI_CMD=acme\nENV_PREFIX=ACME\n"},
			environ: []string{
				"ESB_ENV=dev", "ACME_ENV=prod",
			},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.Brand.EnvPrefix, "ACME")
				is.Equal(c.Env, "prod")
				is.Equal(c.EnvSource, "environment ACME_ENV")
			},
		},
		{
			name:    "ENV_PREFIX: ESB_ENV alone does not count",
			files:   map[string]string{"config/defaults.env": "ENV_PREFIX=ACME\n"},
			environ: []string{"ESB_ENV=dev"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.Brand, Brand{CLICmd: "esb", Slug: "esb", EnvPrefix: "ACME"})
				is.Equal(c.Env, "default")
				is.Equal(c.EnvSource, "default")
			},
		},
		{
			name:  "ENV_PREFIX: ACME_OUTPUT_DIR read, ESB_OUTPUT_DIR ignored",
			files: map[string]string{"config/defaults.env": "ENV_PREFIX=ACME\n"},
			environ: []string{
				"TEMPLATE=template.yaml", "ESB_OUTPUT_DIR=ignored", "ACME_OUTPUT_DIR=out",
			},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(len(c.Templates), 1)
				is.Equal(c.Templates[0].OutputRoot, filepath.Join(wd, "out"))
				is.True(c.Templates[0].OutputExplicit)
			},
		},
		{
			name:    "ENV_PREFIX: ESB_OUTPUT_DIR alone does not count",
			files:   map[string]string{"config/defaults.env": "ENV_PREFIX=ACME\n"},
			environ: []string{"TEMPLATE=template.yaml", "ESB_OUTPUT_DIR=ignored"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.Templates[0].OutputRoot, filepath.Join(wd, ".esb"))
				is.True(!c.Templates[0].OutputExplicit)
			},
		},
		{
			name: "explicit relative DEFAULTS_FILE beats config/defaults.env",
			files: map[string]string{
				"config/defaults.env": "CLI_CMD=other\n",
				"brand/acme.env":      "export CLI_CMD=\"ACME\"\nENV_PREFIX=ACME\n",
			},
			environ: []string{"DEFAULTS_FILE=brand/acme.env"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.DefaultsFile, filepath.Join(wd, "brand", "acme.env"))
				is.Equal(c.Brand, Brand{CLICmd: "ACME", Slug: "acme", EnvPrefix: "ACME"})
			},
		},
		{
			name:    "explicit absolute DEFAULTS_FILE",
			files:   map[string]string{"elsewhere/brand.env": "CLI_CMD=zed\n"},
			environ: []string{"DEFAULTS_FILE={wd}/elsewhere/../elsewhere/brand.env"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.DefaultsFile, filepath.Join(wd, "elsewhere", "brand.env"))
				is.Equal(c.Brand.Slug, "zed")
				is.Equal(c.BundleTag, "zed-dind-bundle:latest")
			},
		},
		{
			name:    "empty CLI_CMD and ENV_PREFIX keep the defaults",
			files:   map[string]string{"config/defaults.env": "CLI_CMD=\nENV_PREFIX=\n"},
			environ: nil,
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.Brand, Brand{CLICmd: "esb", Slug: "esb", EnvPrefix: "ESB"})
			},
		},
	})

	runErrCases(t, []errCase{
		{
			name:  "malformed default defaults file names the file and the line",
			files: map[string]string{"config/defaults.env": "CLI_CMD=acme\nnot a pair\n"},
			want:  []string{"{wd}/config/defaults.env", "line 2"},
		},
		{
			name:    "malformed explicit defaults file",
			files:   map[string]string{"b.env": "\n\n# c\nENV PREFIX=ACME\n"},
			environ: []string{"DEFAULTS_FILE=b.env"},
			want:    []string{"{wd}/b.env", "line 4"},
		},
		{
			name:    "explicit DEFAULTS_FILE that does not exist",
			environ: []string{"DEFAULTS_FILE=brand/missing.env"},
			want:    []string{"DEFAULTS_FILE", "{wd}/brand/missing.env"},
		},
	})
}

func TestLoadEnv(t *testing.T) {
	runLoadCases(t, []loadCase{
		{
			name:    "ESB_ENV beats .env ENV",
			files:   map[string]string{".env": "ENV=dev\n"},
			environ: []string{"ESB_ENV=prod"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.Env, "prod")
				is.Equal(c.EnvSource, "environment ESB_ENV")
				is.Equal(c.Project, "esb-prod")
			},
		},
		{
			name:  ".env ENV beats the default",
			files: map[string]string{".env": "ENV=dev\n"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.Env, "dev")
				is.Equal(c.EnvSource, ".env ENV")
			},
		},
		{
			name:    "blank ESB_ENV falls back to .env",
			files:   map[string]string{".env": "ENV=dev\n"},
			environ: []string{"ESB_ENV=  "},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.Env, "dev")
				is.Equal(c.EnvSource, ".env ENV")
			},
		},
		{
			name:    "nothing set: default; ENV in the environment is not the env name",
			environ: []string{"ENV=staging"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.Env, "default")
				is.Equal(c.EnvSource, "default")
			},
		},
		{
			name:    "ESB_ENV value is trimmed",
			environ: []string{"ESB_ENV= prod "},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.Env, "prod")
			},
		},
	})

	runErrCases(t, []errCase{
		{name: "slash in ESB_ENV", environ: []string{"ESB_ENV=a/b"}, want: []string{`"a/b"`, "slashes"}},
		{name: "backslash in .env ENV", files: map[string]string{".env": `ENV=a\b` + "\n"}, want: []string{"environment name (from .env ENV)", "slashes"}},
		{name: "space in ESB_ENV", environ: []string{"ESB_ENV=a b"}, want: []string{`"a b"`}},
		{name: "dot-dot", environ: []string{"ESB_ENV=.."}, want: []string{`".."`}},
		{name: "dot", files: map[string]string{".env": "ENV=.\n"}, want: []string{"(from .env ENV)", "nor be . or .."}},
	})
}

func TestLoadTemplates(t *testing.T) {
	tmpl := func(wd, rel, stem, root string, explicit bool, manifest string) Template {
		p := filepath.Join(wd, filepath.FromSlash(rel))
		return Template{
			Path:           p,
			Dir:            filepath.Dir(p),
			Stem:           stem,
			OutputRoot:     filepath.Join(wd, filepath.FromSlash(root)),
			OutputExplicit: explicit,
			ManifestPath:   filepath.Join(wd, filepath.FromSlash(manifest)),
		}
	}
	cases := []struct {
		name    string
		environ []string
		want    func(wd string) []Template
	}{
		{
			name: "unset: no templates",
			want: func(string) []Template { return nil },
		},
		{
			name:    "blank and empty entries only: no templates",
			environ: []string{"TEMPLATE= , ,"},
			want:    func(string) []Template { return nil },
		},
		{
			name:    "one relative template: <dir>/.esb, not explicit",
			environ: []string{"TEMPLATE=sam/template.yaml"},
			want: func(wd string) []Template {
				return []Template{tmpl(wd, "sam/template.yaml", "template", "sam/.esb", false,
					"sam/.esb/default/bundle/manifest.json")}
			},
		},
		{
			name:    "one absolute template; env name in the manifest path",
			environ: []string{"TEMPLATE={wd}/sam/./api.yml", "ESB_ENV=prod"},
			want: func(wd string) []Template {
				return []Template{tmpl(wd, "sam/api.yml", "api", "sam/.esb", false,
					"sam/.esb/prod/bundle/manifest.json")}
			},
		},
		{
			name:    "several: <template dir>/.esb/<stem>, explicit",
			environ: []string{"TEMPLATE=a/one.yaml,b/two.yaml"},
			want: func(wd string) []Template {
				return []Template{
					tmpl(wd, "a/one.yaml", "one", "a/.esb/one", true, "a/.esb/one/default/bundle/manifest.json"),
					tmpl(wd, "b/two.yaml", "two", "b/.esb/two", true, "b/.esb/two/default/bundle/manifest.json"),
				}
			},
		},
		{
			name:    "several in one directory",
			environ: []string{"TEMPLATE=one.yaml,two.yaml"},
			want: func(wd string) []Template {
				return []Template{
					tmpl(wd, "one.yaml", "one", ".esb/one", true, ".esb/one/default/bundle/manifest.json"),
					tmpl(wd, "two.yaml", "two", ".esb/two", true, ".esb/two/default/bundle/manifest.json"),
				}
			},
		},
		{
			name:    "equal stems: stem, stem-2, stem-3",
			environ: []string{"TEMPLATE=a/template.yaml,b/template.yaml,c/template.yml"},
			want: func(wd string) []Template {
				return []Template{
					tmpl(wd, "a/template.yaml", "template", "a/.esb/template", true,
						"a/.esb/template/default/bundle/manifest.json"),
					tmpl(wd, "b/template.yaml", "template-2", "b/.esb/template-2", true,
						"b/.esb/template-2/default/bundle/manifest.json"),
					tmpl(wd, "c/template.yml", "template-3", "c/.esb/template-3", true,
						"c/.esb/template-3/default/bundle/manifest.json"),
				}
			},
		},
		{
			name:    "a de-duplicated stem never equals another template's own stem",
			environ: []string{"TEMPLATE=t.yaml,t.yml,t-2.yaml"},
			want: func(wd string) []Template {
				return []Template{
					tmpl(wd, "t.yaml", "t", ".esb/t", true, ".esb/t/default/bundle/manifest.json"),
					tmpl(wd, "t.yml", "t-2", ".esb/t-2", true, ".esb/t-2/default/bundle/manifest.json"),
					tmpl(wd, "t-2.yaml", "t-2-2", ".esb/t-2-2", true, ".esb/t-2-2/default/bundle/manifest.json"),
				}
			},
		},
		{
			name:    "whitespace and empty entries ignored",
			environ: []string{"TEMPLATE= a/one.yaml ,, ,\tb/two.yaml ,"},
			want: func(wd string) []Template {
				return []Template{
					tmpl(wd, "a/one.yaml", "one", "a/.esb/one", true, "a/.esb/one/default/bundle/manifest.json"),
					tmpl(wd, "b/two.yaml", "two", "b/.esb/two", true, "b/.esb/two/default/bundle/manifest.json"),
				}
			},
		},
		{
			name:    "ESB_OUTPUT_DIR with one template: explicit root",
			environ: []string{"TEMPLATE=sam/template.yaml", "ESB_OUTPUT_DIR=out", "ESB_ENV=dev"},
			want: func(wd string) []Template {
				return []Template{tmpl(wd, "sam/template.yaml", "template", "out", true,
					"out/dev/bundle/manifest.json")}
			},
		},
		{
			name:    "absolute ESB_OUTPUT_DIR",
			environ: []string{"TEMPLATE=template.yaml", "ESB_OUTPUT_DIR={wd}/abs/out/"},
			want: func(wd string) []Template {
				return []Template{tmpl(wd, "template.yaml", "template", "abs/out", true,
					"abs/out/default/bundle/manifest.json")}
			},
		},
		{
			name:    "BUNDLE_MANIFEST_PATH with one template is used",
			environ: []string{"TEMPLATE=sam/template.yaml", "BUNDLE_MANIFEST_PATH=custom/m.json"},
			want: func(wd string) []Template {
				return []Template{tmpl(wd, "sam/template.yaml", "template", "sam/.esb", false, "custom/m.json")}
			},
		},
		{
			name: "ESB_OUTPUT_DIR and BUNDLE_MANIFEST_PATH together with one template",
			environ: []string{"TEMPLATE=template.yaml", "ESB_OUTPUT_DIR=out",
				"BUNDLE_MANIFEST_PATH={wd}/m/manifest.json"},
			want: func(wd string) []Template {
				return []Template{tmpl(wd, "template.yaml", "template", "out", true, "m/manifest.json")}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			wd := t.TempDir()
			c, err := Load(environ(tc.environ, wd), wd)
			is.NoErr(err)
			want := tc.want(wd)
			is.Equal(len(c.Templates), len(want))
			for i := range want {
				// The runtime config lies under <output root>/<env>, wherever
				// BUNDLE_MANIFEST_PATH puts the manifest.
				want[i].RuntimeConfigDir = filepath.Join(want[i].OutputRoot, c.Env, "config")
				is.Equal(c.Templates[i], want[i])
			}
			if len(want) == 0 {
				err := c.RequireTemplates()
				is.True(err != nil) // no templates: stages from Deploy on refuse to run
				is.True(strings.Contains(err.Error(), "set TEMPLATE"))
			} else {
				is.NoErr(c.RequireTemplates())
			}
		})
	}

	runErrCases(t, []errCase{
		{
			name:    "the same template twice",
			environ: []string{"TEMPLATE=sam/t.yaml,./sam/../sam/t.yaml"},
			want:    []string{"{wd}/sam/t.yaml", "twice"},
		},
		{
			name:    "the same template twice: absolute and relative",
			environ: []string{"TEMPLATE={wd}/t.yaml, t.yaml"},
			want:    []string{"twice"},
		},
		{
			name:    "ESB_OUTPUT_DIR with several templates",
			environ: []string{"TEMPLATE=a.yaml,b.yaml", "ESB_OUTPUT_DIR=out"},
			want:    []string{"ESB_OUTPUT_DIR", "2 templates", "unset ESB_OUTPUT_DIR"},
		},
		{
			name:    "ACME_OUTPUT_DIR with several templates names the brand's variable",
			files:   map[string]string{"config/defaults.env": "CLI_CMD=acme\nENV_PREFIX=ACME\n"},
			environ: []string{"TEMPLATE=a.yaml,b.yaml,c.yaml", "ACME_OUTPUT_DIR=out"},
			want:    []string{"ACME_OUTPUT_DIR", "3 templates", ".acme/<stem>"},
		},
		{
			name:    "BUNDLE_MANIFEST_PATH with several templates",
			environ: []string{"TEMPLATE=a.yaml,b.yaml", "BUNDLE_MANIFEST_PATH=m.json"},
			want:    []string{"BUNDLE_MANIFEST_PATH", "2 templates"},
		},
	})
}

// A producer command's flags win over the variables that say the same, and the bundler's own
// output settings are not the command's business.
func TestLoadFlags(t *testing.T) {
	cases := []struct {
		name    string
		flags   Flags
		environ []string
		check   func(is *is.I, c Config, wd string)
	}{
		{
			name:    "--env wins over ESB_ENV and names the default project",
			flags:   Flags{Template: "stack/t.yaml", Env: "Prod"},
			environ: []string{"ESB_ENV=dev", "TEMPLATE=other.yaml", "ESB_OUTPUT_DIR=out", "BUNDLE_MANIFEST_PATH=m.json"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.Env, "Prod")
				is.Equal(c.EnvSource, "flag --env")
				is.Equal(c.Project, "esb-prod")
				is.Equal(c.Templates, []Template{{
					Path: filepath.Join(wd, "stack", "t.yaml"), Dir: filepath.Join(wd, "stack"), Stem: "t",
					OutputRoot:       filepath.Join(wd, "stack", ".esb"),
					ManifestPath:     filepath.Join(wd, "stack", ".esb", "Prod", "bundle", "manifest.json"),
					RuntimeConfigDir: filepath.Join(wd, "stack", ".esb", "Prod", "config"),
				}})
			},
		},
		{
			name:    "--output is the explicit root; PROJECT_NAME still wins",
			flags:   Flags{Template: "/abs/a,b.yaml", Env: "ci", Output: "out"},
			environ: []string{"PROJECT_NAME=p1"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.Project, "p1")
				is.Equal(c.Templates, []Template{{
					Path: "/abs/a,b.yaml", Dir: "/abs", Stem: "a,b", // one template, commas and all
					OutputRoot: filepath.Join(wd, "out"), OutputExplicit: true,
					ManifestPath:     filepath.Join(wd, "out", "ci", "bundle", "manifest.json"),
					RuntimeConfigDir: filepath.Join(wd, "out", "ci", "config"),
				}})
			},
		},
		{
			name:    "no flags: the variables",
			environ: []string{"ESB_ENV=dev", "TEMPLATE=t.yaml"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.Env, "dev")
				is.Equal(c.Templates[0].Path, filepath.Join(wd, "t.yaml"))
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			wd := t.TempDir()
			c, err := LoadFlags(tc.environ, wd, tc.flags)
			is.NoErr(err)
			tc.check(is, c, wd)
		})
	}

	is := is.New(t)
	_, err := LoadFlags(nil, t.TempDir(), Flags{Template: "t.yaml", Env: "a/b"})
	is.True(err != nil) // the flag's env name is checked like ESB_ENV
	is.True(strings.Contains(err.Error(), `"a/b"`))
}

func TestLoadSettings(t *testing.T) {
	runLoadCases(t, []loadCase{
		{
			name: "defaults",
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.BundleTag, "esb-dind-bundle:latest")
				is.Equal(c.CertDir, filepath.Join(wd, ".esb", "certs"))
				is.Equal(c.Producer, nil)
				is.Equal(c.ComposeFile, filepath.Join(wd, "docker-compose.yml"))
				is.Equal(c.ConfigDir, "")
				is.Equal(c.DotEnvPath, filepath.Join(wd, ".env"))
				is.Equal(c.DotEnv, nil)
				is.Equal(c.DindBaseImage, "docker:28.5-dind")
				is.Equal(c.BuildDir, filepath.Join(wd, "build"))
				is.Equal(c.RunUID, 1000)
				is.Equal(c.RunGID, 1000)
				is.Equal(c.Compression, DefaultCompression)
				is.Equal(c.ParameterOverrides, "")
				is.Equal(c.Project, "esb-default")
				is.Equal(c.ImagePrefix, "esb")
				is.Equal(c.ImageTag, "latest")
				is.Equal(c.RuntimeBases, map[string]string{})
				is.Equal(c.Force, false)
				is.Equal(c.DryRun, false)
				is.Equal(c.Verbose, false)
			},
		},
		{
			name: "overrides",
			environ: []string{
				"BUNDLE_TAG=reg.local/acme/bundle:v2",
				"DIND_BASE_IMAGE=docker:27-dind",
				"PARAMETER_OVERRIDES=Stage=prod Memory=256",
				"PROJECT_NAME=stack",
				"IMAGE_PREFIX=reg.local/acme",
				"IMAGE_TAG=v2",
				"ESB_ENV=prod",
			},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.BundleTag, "reg.local/acme/bundle:v2")
				is.Equal(c.DindBaseImage, "docker:27-dind")
				is.Equal(c.ParameterOverrides, "Stage=prod Memory=256")
				is.Equal(c.Project, "stack")
				is.Equal(c.ImagePrefix, "reg.local/acme")
				is.Equal(c.ImageTag, "v2")
			},
		},
		{
			name:    "relative CERT_DIR and BUILD_DIR resolved against the work dir",
			environ: []string{"CERT_DIR=secrets/../certs", "BUILD_DIR=out/build"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.CertDir, filepath.Join(wd, "certs"))
				is.Equal(c.BuildDir, filepath.Join(wd, "out", "build"))
				is.Equal(c.CertTarget, "/root/.esb/certs") // the target does not follow CERT_DIR
			},
		},
		{
			name:    "absolute CERT_DIR and BUILD_DIR kept (cleaned)",
			environ: []string{"CERT_DIR=/etc/esb//certs/", "BUILD_DIR=/var/tmp/b/"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.CertDir, "/etc/esb/certs")
				is.Equal(c.BuildDir, "/var/tmp/b")
			},
		},
		{
			name:    "cache directory: CACHE_DIR, then XDG_CACHE_HOME, then HOME",
			environ: []string{"CACHE_DIR=cache", "XDG_CACHE_HOME=/x", "HOME=/home/u"},
			check:   func(is *is.I, c Config, wd string) { is.Equal(c.CacheDir, filepath.Join(wd, "cache")) },
		},
		{
			name:    "cache directory under XDG_CACHE_HOME",
			environ: []string{"XDG_CACHE_HOME=/x", "HOME=/home/u"},
			check:   func(is *is.I, c Config, wd string) { is.Equal(c.CacheDir, "/x/dindbundler") },
		},
		{
			name:    "cache directory under HOME (a relative XDG_CACHE_HOME is ignored, as the spec says)",
			environ: []string{"XDG_CACHE_HOME=rel", "HOME=/home/u"},
			check:   func(is *is.I, c Config, wd string) { is.Equal(c.CacheDir, "/home/u/.cache/dindbundler") },
		},
		{
			name:    "no cache directory without HOME",
			environ: []string{"HOME="},
			check:   func(is *is.I, c Config, wd string) { is.Equal(c.CacheDir, "") },
		},
		{
			name:  "docker-compose.docker.yml preferred when present",
			files: map[string]string{"docker-compose.yml": "", "docker-compose.docker.yml": ""},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.ComposeFile, filepath.Join(wd, "docker-compose.docker.yml"))
			},
		},
		{
			name:    "explicit COMPOSE_FILE beats docker-compose.docker.yml",
			files:   map[string]string{"docker-compose.docker.yml": ""},
			environ: []string{"COMPOSE_FILE=deploy/compose.yaml"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.ComposeFile, filepath.Join(wd, "deploy", "compose.yaml"))
			},
		},
		{
			name:    "absolute COMPOSE_FILE",
			environ: []string{"COMPOSE_FILE=/srv/compose.yaml"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.ComposeFile, "/srv/compose.yaml")
			},
		},
		{
			name:  "config/ bundled when it exists",
			files: map[string]string{"config/": ""},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.ConfigDir, filepath.Join(wd, "config"))
			},
		},
		{
			name:    "explicit CONFIG_DIR that exists",
			files:   map[string]string{"conf/app/": ""},
			environ: []string{"CONFIG_DIR=conf/app"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.ConfigDir, filepath.Join(wd, "conf", "app"))
			},
		},
		{
			name:    "RUN_UID/RUN_GID: environment beats .env",
			files:   map[string]string{".env": "RUN_UID=2000\nRUN_GID=2001\n"},
			environ: []string{"RUN_UID=3000", "RUN_GID=0"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.RunUID, 3000)
				is.Equal(c.RunGID, 0)
			},
		},
		{
			name:    "RUN_UID/RUN_GID: .env beats 1000",
			files:   map[string]string{".env": "RUN_UID=2000\nRUN_GID=2001\n"},
			environ: []string{"RUN_GID= "},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.RunUID, 2000)
				is.Equal(c.RunGID, 2001)
			},
		},
		{
			name:    "RUNTIME_BASE_* from .env and the environment, the environment wins",
			files:   map[string]string{".env": "RUNTIME_BASE_PYTHON=py:env-file\nRUNTIME_BASE_JAVA=java:21\nRUNTIME_BASE_EMPTY=\nOTHER=x\n"},
			environ: []string{"RUNTIME_BASE_PYTHON=py:3.12", "RUNTIME_BASE_NODE=node:22", "NOT_RUNTIME_BASE_X=y"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.RuntimeBases, map[string]string{
					"PYTHON": "py:3.12",
					"JAVA":   "java:21",
					"NODE":   "node:22",
				})
			},
		},
		{
			name:    "Vars: .env overlaid by the environment; DotEnv keeps the file's values",
			files:   map[string]string{".env": "A=1\nB=2\n"},
			environ: []string{"B=3", "C=4"},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.DotEnv, map[string]string{"A": "1", "B": "2"})
				is.Equal(c.Vars, map[string]string{"A": "1", "B": "3", "C": "4"})
			},
		},
	})

	runErrCases(t, []errCase{
		{
			name:    "non-numeric RUN_UID from the environment",
			files:   map[string]string{".env": "RUN_UID=2000\n"},
			environ: []string{"RUN_UID=abc"},
			want:    []string{"RUN_UID", `"abc"`, "environment RUN_UID"},
		},
		{
			name:  "non-numeric RUN_GID from .env",
			files: map[string]string{".env": "RUN_GID=staff\n"},
			want:  []string{"RUN_GID (from .env RUN_GID) is not a uid/gid from 0 to 4294967294"},
		},
		{
			name:    "negative RUN_UID",
			environ: []string{"RUN_UID=-1"},
			want:    []string{"RUN_UID", `"-1"`},
		},
		{
			name:  "malformed .env names the file and the line",
			files: map[string]string{".env": "A=1\r\n=2\r\n"},
			want:  []string{"{wd}/.env", "line 2"},
		},
	})
}

func TestLoadProducer(t *testing.T) {
	cases := []struct {
		producer string
		want     []string
	}{
		{"", nil},
		{"   ", nil},
		{"uv run esb", []string{"uv", "run", "esb"}},
		{"  uv \t run   esb  ", []string{"uv", "run", "esb"}},
		{`esb --flag "a b" 'c d'`, []string{"esb", "--flag", "a b", "c d"}},
		{`esb --name="x y"z`, []string{"esb", "--name=x yz"}},
		{`esb "" ''`, []string{"esb", "", ""}},
		{`esb "it's"`, []string{"esb", "it's"}},
		{`/opt/My\ Tools/esb`, []string{`/opt/My\`, "Tools/esb"}}, // no backslash escapes: quote instead
	}
	for _, tc := range cases {
		t.Run(tc.producer, func(t *testing.T) {
			is := is.New(t)
			wd := t.TempDir()
			c, err := Load([]string{"PRODUCER=" + tc.producer}, wd)
			is.NoErr(err)
			is.Equal(c.Producer, tc.want)
		})
	}

	runErrCases(t, []errCase{
		{name: "unterminated double quote", environ: []string{`PRODUCER=esb "deploy`}, want: []string{"PRODUCER", "unterminated quote"}},
		{name: "unterminated single quote", environ: []string{`PRODUCER=esb 'deploy"`}, want: []string{"PRODUCER", "unterminated quote"}},
	})
}

func TestLoadSwitches(t *testing.T) {
	cases := []struct {
		value string
		want  bool
	}{
		{"1", true}, {"true", true}, {"TRUE", true}, {"True", true}, {"yes", true}, {"on", true}, {" yes ", true},
		{"", false}, {"0", false}, {"false", false}, {"no", false}, {"off", false}, {"y", false}, {"2", false},
	}
	for _, tc := range cases {
		for _, v := range []string{"FORCE", "DRYRUN", "DIND_BUNDLER_DRYRUN", "MAGEFILE_VERBOSE"} {
			t.Run(v+"="+tc.value, func(t *testing.T) {
				is := is.New(t)
				wd := t.TempDir()
				c, err := Load([]string{v + "=" + tc.value}, wd)
				is.NoErr(err)
				got := map[string]bool{"FORCE": c.Force, "DRYRUN": c.DryRun, "DIND_BUNDLER_DRYRUN": c.DryRun, "MAGEFILE_VERBOSE": c.Verbose}
				is.Equal(got[v], tc.want)
				// Only the flag that was set changes.
				is.Equal(c.Force, v == "FORCE" && tc.want)
				is.Equal(c.Verbose, v == "MAGEFILE_VERBOSE" && tc.want)
				is.Equal(c.DryRun, strings.HasSuffix(v, "DRYRUN") && tc.want)
			})
		}
	}
}

func TestCompression(t *testing.T) {
	cases := []struct {
		value string
		want  layerfile.Compression
	}{
		{"", layerfile.Zstd},
		{"gzip", layerfile.Gzip},
		{" zstd ", layerfile.Zstd},
		{"none", layerfile.None},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			is := is.New(t)
			wd := t.TempDir()
			c, err := Load([]string{"BUNDLE_COMPRESSION=" + tc.value, "BUILD_DIR=out"}, wd)
			is.NoErr(err)
			is.Equal(c.Compression, tc.want)
			is.Equal(c.Layout().MergedManifest(), filepath.Join(wd, "out", "bundle", "manifest.json"))
			is.Equal(c.Layout().State(), filepath.Join(wd, "out", "state"))
		})
	}

	runErrCases(t, []errCase{
		{name: "unknown", environ: []string{"BUNDLE_COMPRESSION=lz4"}, want: []string{"BUNDLE_COMPRESSION", `"lz4"`, "none, gzip or zstd"}},
		{name: "upper case", environ: []string{"BUNDLE_COMPRESSION=GZIP"}, want: []string{"BUNDLE_COMPRESSION"}},
	})
}

func TestPathsOfABareConfig(t *testing.T) {
	is := is.New(t)
	c := Config{BuildDir: "/b"}
	is.Equal(c.Layout().MergedManifest(), "/b/bundle/manifest.json")
	is.Equal(ProducerManifestPath("/root/.esb", "prod"), "/root/.esb/prod/bundle/manifest.json")
}

func TestParseEnv(t *testing.T) {
	// Each case as compose-go/v2/dotenv reads it (docker compose's .env).
	cases := []struct {
		name string
		text string
		env  map[string]string
		want map[string]string
	}{
		{"empty", "", nil, map[string]string{}},
		{"blank lines and comments", "\n  \n# A=1\n   # B=2\nC=3\n", nil, map[string]string{"C": "3"}},
		{"export", "export A=1\nexport   B=2\nexportC=3\n", nil, map[string]string{"A": "1", "B": "2", "exportC": "3"}},
		{"spaces around key and value", "  A  =  x y  \n", nil, map[string]string{"A": "x y"}},
		{"empty value", "A=\n", nil, map[string]string{"A": ""}},
		{"value with =", "URL=http://h/?a=b\n", nil, map[string]string{"URL": "http://h/?a=b"}},
		{"yaml style", "A: 1\n", nil, map[string]string{"A": "1"}},
		{"name characters", "a.b-c[0]_D=1\n", nil, map[string]string{"a.b-c[0]_D": "1"}},
		{"double quotes", `A="x y"`, nil, map[string]string{"A": "x y"}},
		{"single quotes", `A='x y'`, nil, map[string]string{"A": "x y"}},
		{"empty quotes", `A=""`, nil, map[string]string{"A": ""}},
		{"# inside quotes kept", `A="x # y"`, nil, map[string]string{"A": "x # y"}},
		{"inline comment", "A=x # note\n", nil, map[string]string{"A": "x"}},
		{"# without a space is part of the value", "A=x#y\n", nil, map[string]string{"A": "x#y"}},
		{"quoted value then inline comment", `A="x y" # note` + "\n" + `B='z' #c` + "\n" + `C="x # y" # note`,
			nil, map[string]string{"A": "x y", "B": "z", "C": "x # y"}},
		{"multi-line double-quoted value", "KEY=\"-----BEGIN KEY-----\nabc\n-----END KEY-----\"\nB=2\n", nil,
			map[string]string{"KEY": "-----BEGIN KEY-----\nabc\n-----END KEY-----", "B": "2"}},
		{"multi-line single-quoted value", "A='l1\n  l2'\n", nil, map[string]string{"A": "l1\n  l2"}},
		{"double-quote escapes", `A="a\nb\t\"q\" \\ \$HOME \x"`, nil, map[string]string{"A": "a\nb\t\"q\" \\ $HOME \\x"}},
		{"single quotes are literal", `A='a\nb $HOME'`, nil, map[string]string{"A": `a\nb $HOME`}},
		{"escaped quote in single quotes", `A='it\'s'`, nil, map[string]string{"A": "it's"}},
		{"unquoted backslashes are literal", `A=a\nb`, nil, map[string]string{"A": `a\nb`}},
		{"interpolation from the file and the environment", "A=1\nB=${A}-$C-${D:-d}\nE=\"${A}\"\nF='${A}'\nG=$$A\n",
			map[string]string{"C": "c"}, map[string]string{"A": "1", "B": "1-c-d", "E": "1", "F": "${A}", "G": "$A"}},
		{"the environment wins in interpolation", "A=file\nB=${A}\n", map[string]string{"A": "env"},
			map[string]string{"A": "file", "B": "env"}},
		{"a name alone inherits from the environment", "A\nB\nC=1\nD", map[string]string{"A": "from env", "D": "d"},
			map[string]string{"A": "from env", "C": "1", "D": "d"}},
		{"bare export is a name", "export\n", map[string]string{"export": "x"}, map[string]string{"export": "x"}},
		{"two statements on one line", `A="x" B=2`, nil, map[string]string{"A": "x", "B": "2"}},
		{"CRLF", "A=1\r\nB=\"2\"\r\n\r\n# c\r\n", nil, map[string]string{"A": "1", "B": "2"}},
		{"byte order mark", "\uFEFFA=1\n", nil, map[string]string{"A": "1"}},
		{"later line wins", "A=1\nA=2\n", nil, map[string]string{"A": "2"}},
		{"no trailing newline", "A=1", nil, map[string]string{"A": "1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			got, err := ParseEnvWith(tc.text, tc.env)
			is.NoErr(err)
			is.Equal(got, tc.want)
		})
	}

	// The values hold a secret: no error may print it, or any part of it.
	const secret = "hunter2-TOPSECRET"
	bad := []struct {
		name string
		text string
		want string
	}{
		{"unterminated double quote", "A=1\nPASSWORD=\"" + secret + "\n" + secret + "\n", "line 2: the value of PASSWORD opens a \" quote"},
		{"unterminated single quote", "PASSWORD='" + secret, "line 1: the value of PASSWORD opens a ' quote"},
		{"text after a closing quote", "PASSWORD=\"x\"" + secret + " # note\n", "line 1: a variable name may hold only"},
		{"empty key", "\n\n=" + secret, "line 3: no variable name"},
		{"space in key", "MY KEY=" + secret, "line 1: a variable name cannot contain a space"},
		{"odd character in key", "A=1\r\nB=2\r\n" + secret + "!=1\r\n", "line 3: a variable name may hold only"},
		{"bad interpolation", "PASSWORD=" + secret + "$\n", "line 1: the value of PASSWORD cannot be interpolated"},
		{"bad interpolation in double quotes", "X=1\nPASSWORD=\"" + secret + "${\"\n", "line 2: the value of PASSWORD cannot be interpolated"},
		{"required variable", "PASSWORD=${NOPE:?" + secret + "}\n", "line 1: the value of PASSWORD cannot be interpolated"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			vars, err := ParseEnv(tc.text)
			is.True(err != nil) // malformed
			is.Equal(vars, nil)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			for _, part := range []string{secret, "hunter", "TOPSECRET"} {
				is.True(!strings.Contains(err.Error(), part)) // the error prints no value
			}
		})
	}
}

func TestReadEnvFile(t *testing.T) {
	is := is.New(t)
	wd := workspace(t, map[string]string{"ok.env": "A=1\n", "bad.env": "A B=1\n"})

	vars, err := ReadEnvFile(filepath.Join(wd, "ok.env"))
	is.NoErr(err)
	is.Equal(vars, map[string]string{"A": "1"})

	_, err = ReadEnvFile(filepath.Join(wd, "bad.env"))
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), filepath.Join(wd, "bad.env")+": line 1"))

	_, err = ReadEnvFile(filepath.Join(wd, "missing.env"))
	is.True(errors.Is(err, fs.ErrNotExist))
	is.True(strings.Contains(err.Error(), filepath.Join(wd, "missing.env")))
}

func TestEnvMap(t *testing.T) {
	is := is.New(t)
	got := EnvMap([]string{"A=1", "B=x=y", "NOEQUALS", "C=", "A=2", "=hidden"})
	is.Equal(got, map[string]string{"A": "2", "B": "x=y", "C": "", "": "hidden"})
}

func TestLoadChecksBeforeAnyStage(t *testing.T) {
	runErrCases(t, []errCase{
		{name: "BUNDLE_TAG with a space", environ: []string{"BUNDLE_TAG=Has Space:1"}, want: []string{`BUNDLE_TAG="Has Space:1"`, "not a valid image name", "name[:tag]"}},
		{name: "BUNDLE_TAG with an empty tag", environ: []string{"BUNDLE_TAG=x:"}, want: []string{`BUNDLE_TAG="x:"`, "not a valid image name"}},
		{name: "BUNDLE_TAG upper case", environ: []string{"BUNDLE_TAG=acme/Bundle:1"}, want: []string{"BUNDLE_TAG", "not a valid image name"}},
		{name: "BUNDLE_TAG with a newline", environ: []string{"BUNDLE_TAG=a\nRUN rm -rf /:1"}, want: []string{"BUNDLE_TAG", "not a valid image name"}},
		{name: "BUNDLE_TAG as a digest", environ: []string{"BUNDLE_TAG=x@sha256:" + strings.Repeat("a", 64)}, want: []string{"BUNDLE_TAG", "digest"}},
		{name: "DIND_BASE_IMAGE with a newline", environ: []string{"DIND_BASE_IMAGE=docker:28\nRUN id"}, want: []string{"DIND_BASE_IMAGE", "not a valid image name"}},
		{name: "IMAGE_TAG with a colon", environ: []string{"IMAGE_TAG=a:b"}, want: []string{`IMAGE_TAG="a:b"`, "not a valid image tag"}},
		{name: "RUN_UID 2^32-1", environ: []string{"RUN_UID=4294967295"}, want: []string{`RUN_UID="4294967295"`, "from 0 to 4294967294"}},
		{name: "RUN_GID 2^32+1000", environ: []string{"RUN_GID=4294968296"}, want: []string{`RUN_GID="4294968296"`, "from 0 to 4294967294"}},
		{name: "RUN_UID 2^64", environ: []string{"RUN_UID=18446744073709551616"}, want: []string{"RUN_UID", "from 0 to 4294967294"}},
	})
	runLoadCases(t, []loadCase{
		{
			name:    "RUN_UID/RUN_GID at the limits",
			environ: []string{"RUN_UID=4294967294", "RUN_GID=0", "BUNDLE_TAG=reg.local:5000/a/b:v1.2", "DIND_BASE_IMAGE=docker@sha256:" + strings.Repeat("a", 64)},
			check: func(is *is.I, c Config, wd string) {
				is.Equal(c.RunUID, 4294967294)
				is.Equal(c.RunGID, 0)
			},
		},
	})
}

func TestLoadNeverPrintsADotEnvValue(t *testing.T) {
	const secret = "s3cr3t-VALUE"
	for name, dotEnv := range map[string]string{
		"ENV":             "ENV=" + secret + "/x\n",
		"RUN_UID":         "RUN_UID=" + secret + "\n",
		"RUN_GID range":   "RUN_GID=99999999999" + "\n", // a value all the same
		"unclosed quote":  "TOKEN=\"" + secret + "\n" + secret + "\n",
		"interpolation":   "TOKEN=" + secret + "${\n",
		"garbage in name": secret + "!\n",
	} {
		t.Run(name, func(t *testing.T) {
			is := is.New(t)
			wd := workspace(t, map[string]string{".env": dotEnv})
			_, err := Load(environ(nil, wd), wd)
			is.True(err != nil)                             // .env is refused
			is.True(!strings.Contains(err.Error(), secret)) // the error prints no value of .env
			is.True(!strings.Contains(err.Error(), "99999999999"))
			is.True(strings.Contains(err.Error(), ".env"))
		})
	}
}

func TestLoadMultiLineDotEnv(t *testing.T) {
	is := is.New(t)
	wd := workspace(t, map[string]string{".env": "CERT=\"-----BEGIN-----\nAAAA\n-----END-----\"\nENV=prod\n"})
	c, err := Load(environ(nil, wd), wd)
	is.NoErr(err) // a multi-line quoted value is valid for compose
	is.Equal(c.DotEnv["CERT"], "-----BEGIN-----\nAAAA\n-----END-----")
	is.Equal(c.Env, "prod")
	is.Equal(c.Vars["CERT"], c.DotEnv["CERT"])
}

func TestExportSettingsNeverPrintADotEnvValue(t *testing.T) {
	is := is.New(t)
	wd := workspace(t, map[string]string{".env": "EXPORT_COMPRESSION=s3cr3t\n"})
	c, err := Load(environ(nil, wd), wd)
	is.NoErr(err)
	_, err = c.ExportSettings()
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "EXPORT_COMPRESSION (from .env)"))
	is.True(!strings.Contains(err.Error(), "s3cr3t"))

	c, err = Load([]string{"INSPECT_FORMAT=yaml"}, t.TempDir())
	is.NoErr(err)
	_, err = c.ExportSettings()
	is.True(strings.Contains(err.Error(), `INSPECT_FORMAT="yaml"`)) // the environment's value is shown
}

func TestLoadContainerRegistry(t *testing.T) {
	runLoadCases(t, []loadCase{
		{name: "unset: function images keep their bare names", check: func(is *is.I, c Config, wd string) { is.Equal(c.ContainerRegistry, "") }},
		{name: "host:port", environ: []string{"CONTAINER_REGISTRY=127.0.0.1:5010"}, check: func(is *is.I, c Config, wd string) { is.Equal(c.ContainerRegistry, "127.0.0.1:5010") }},
		{name: "a name with a port", environ: []string{"CONTAINER_REGISTRY=registry:5010"}, check: func(is *is.I, c Config, wd string) { is.Equal(c.ContainerRegistry, "registry:5010") }},
		{name: "a dotted host", environ: []string{"CONTAINER_REGISTRY=reg.example.com"}, check: func(is *is.I, c Config, wd string) { is.Equal(c.ContainerRegistry, "reg.example.com") }},
		{name: "localhost", environ: []string{"CONTAINER_REGISTRY=localhost"}, check: func(is *is.I, c Config, wd string) { is.Equal(c.ContainerRegistry, "localhost") }},
		{
			name: "from .env, the environment wins", files: map[string]string{".env": "CONTAINER_REGISTRY=10.0.0.1:5000\n"},
			check: func(is *is.I, c Config, wd string) { is.Equal(c.ContainerRegistry, "10.0.0.1:5000") },
		},
		{
			name: "the environment over .env", files: map[string]string{".env": "CONTAINER_REGISTRY=10.0.0.1:5000\n"}, environ: []string{"CONTAINER_REGISTRY=127.0.0.1:5010"},
			check: func(is *is.I, c Config, wd string) { is.Equal(c.ContainerRegistry, "127.0.0.1:5010") },
		},
	})
	runErrCases(t, []errCase{
		{name: "a path", environ: []string{"CONTAINER_REGISTRY=127.0.0.1:5010/ns"}, want: []string{`CONTAINER_REGISTRY="127.0.0.1:5010/ns"`, "host[:port]"}},
		{name: "a scheme", environ: []string{"CONTAINER_REGISTRY=http://127.0.0.1:5010"}, want: []string{"CONTAINER_REGISTRY", "host[:port]"}},
		{name: "a Docker Hub namespace", environ: []string{"CONTAINER_REGISTRY=registry"}, want: []string{"CONTAINER_REGISTRY", "host[:port]"}},
		{name: "from .env: named, not printed", files: map[string]string{".env": "CONTAINER_REGISTRY=bad value\n"}, want: []string{"CONTAINER_REGISTRY (from .env CONTAINER_REGISTRY) is not"}},
	})
}

// ENV_VARS_FILE and LAYER_MAP are read here once; the producer reads the files they name.
func TestOfflineInputs(t *testing.T) {
	tests := []struct {
		name                      string
		env                       []string
		wantEnvVars, wantLayerMap string
	}{
		{"unset", nil, "", ""},
		{"relative file", []string{"ENV_VARS_FILE= shared/env.json ", "LAYER_MAP=layers.txt"}, "/w/shared/env.json", "layers.txt"},
		{"absolute file, inline map", []string{"ENV_VARS_FILE=/etc/env.json", "LAYER_MAP=arn:aws:lambda:us-east-1:1:layer:x:1=vendor/x"}, "/etc/env.json", "arn:aws:lambda:us-east-1:1:layer:x:1=vendor/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			c, err := Load(tt.env, "/w")
			is.NoErr(err)
			is.Equal(c.EnvVarsFile, tt.wantEnvVars)
			is.Equal(c.LayerMap, tt.wantLayerMap)
		})
	}
}
