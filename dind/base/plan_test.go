package base_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/matryer/is"
)

// The apt configuration of the machines this project runs on: deb822 with snapshot comments
// and a security suite, plus disabled third-party files.
const debianSources = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`

func TestParseList(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []base.Source
		wantErr string
	}{
		{
			name: "plain, comments and blank lines",
			text: "# comment\n\ndeb http://ftp.de.debian.org/debian bookworm main contrib # trailing\n",
			want: []base.Source{{Type: "deb", URI: "http://ftp.de.debian.org/debian", Suite: "bookworm", Components: []string{"main", "contrib"}}},
		},
		{
			name: "options with spaces inside brackets",
			text: "deb [ arch=amd64 signed-by=/usr/share/keyrings/k.gpg ] https://mirror.example/debian/ trixie main\n",
			want: []base.Source{{Type: "deb", URI: "https://mirror.example/debian/", Suite: "trixie", Components: []string{"main"}}},
		},
		{
			name: "compact options",
			text: "deb-src [arch=amd64] http://m/debian bookworm main\n",
			want: []base.Source{{Type: "deb-src", URI: "http://m/debian", Suite: "bookworm", Components: []string{"main"}}},
		},
		{name: "unclosed options", text: "deb [arch=amd64 http://m/debian bookworm main\n", wantErr: "line 1: unclosed"},
		{name: "too short", text: "\ndeb http://m/debian\n", wantErr: "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := base.ParseList("f.list", tt.text)
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr)) // error names the line
				return
			}
			is.NoErr(err)
			for i := range tt.want {
				tt.want[i].File = "f.list"
			}
			is.Equal(got, tt.want)
		})
	}
}

func TestParseDeb822(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []string // "type uri suite components"
		wantErr string
	}{
		{
			name: "debian machine",
			text: debianSources,
			want: []string{
				"deb http://deb.debian.org/debian bookworm main",
				"deb http://deb.debian.org/debian bookworm-updates main",
				"deb http://deb.debian.org/debian-security bookworm-security main",
			},
		},
		{
			name: "disabled stanza, case-insensitive keys, continuation line",
			text: "Types: deb\nURIs: http://a/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n" +
				"types: deb deb-src\nuris: http://b/debian\n  http://c/debian\nsuites: trixie\ncomponents: main\n",
			want: []string{
				"deb http://b/debian trixie main",
				"deb http://c/debian trixie main",
				"deb-src http://b/debian trixie main",
				"deb-src http://c/debian trixie main",
			},
		},
		{name: "no colon", text: "Types deb\n", wantErr: "line 1"},
		{name: "stray continuation", text: " http://x\n", wantErr: "continuation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := base.ParseDeb822("f.sources", tt.text)
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr))
				return
			}
			is.NoErr(err)
			var lines []string
			for _, s := range got {
				lines = append(lines, strings.Join(append([]string{s.Type, s.URI, s.Suite}, s.Components...), " "))
			}
			is.Equal(lines, tt.want)
		})
	}
}

func TestPickMirror(t *testing.T) {
	src := func(typ, uri, suite string, comps ...string) base.Source {
		return base.Source{Type: typ, URI: uri, Suite: suite, Components: comps}
	}
	tests := []struct {
		name    string
		sources []base.Source
		want    string
		wantErr bool
	}{
		{
			name: "security listed first still loses to the release suite",
			sources: []base.Source{
				src("deb", "http://security/debian-security", "bookworm-security", "main"),
				src("deb", "http://deb.debian.org/debian/", "bookworm", "main"),
			},
			want: "http://deb.debian.org/debian",
		},
		{
			name: "third-party repository with main is not a Debian mirror",
			sources: []base.Source{
				src("deb", "https://deb.nodesource.com/node_20.x", "nodistro", "main"),
				src("deb", "https://packages.cloud.google.com/apt", "cloud-sdk-bookworm", "main"),
				src("deb", "http://ftp.fr.debian.org/debian", "trixie", "main", "non-free"),
			},
			want: "http://ftp.fr.debian.org/debian",
		},
		{
			name: "exact suite preferred over another release",
			sources: []base.Source{
				src("deb", "http://trixie-mirror/debian", "trixie", "main"),
				src("deb", "http://bookworm-mirror/debian", "bookworm", "main"),
			},
			want: "http://bookworm-mirror/debian",
		},
		{
			name: "deb-src, no main, cdrom are skipped",
			sources: []base.Source{
				src("deb-src", "http://src/debian", "bookworm", "main"),
				src("deb", "http://contrib-only/debian", "bookworm", "contrib"),
				src("deb", "cdrom:[Debian 12]/", "bookworm", "main"),
				src("deb", "file:///srv/mirror/debian", "stable", "main"),
			},
			want: "file:///srv/mirror/debian",
		},
		{
			name:    "ubuntu host",
			sources: []base.Source{src("deb", "http://archive.ubuntu.com/ubuntu", "noble", "main")},
			wantErr: true,
		},
		{name: "nothing configured", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := base.PickMirror(tt.sources, "bookworm")
			if tt.wantErr {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), "Options.Mirror")) // says what to do
				return
			}
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
}

func TestSourceFiles(t *testing.T) {
	is := is.New(t)
	got := base.SourceFiles([]string{
		"etc/apt/sources.list.d/z.sources",
		"etc/apt/sources.list.d/google-cloud-sdk.list.disabled-by-farm",
		"etc/apt/sources.list.d/a.list",
		"etc/apt/sources.list",
		"etc/apt/sources.list.d/README",
	})
	is.Equal(got, []string{"etc/apt/sources.list", "etc/apt/sources.list.d/a.list", "etc/apt/sources.list.d/z.sources"})
}

// ReadAptSources on a copy of this project's machine layout: the mirror comes from the deb822
// file, the disabled third-party lists are ignored, a missing sources.list is fine.
func TestReadAptSources(t *testing.T) {
	is := is.New(t)
	root := t.TempDir()
	d := filepath.Join(root, "etc/apt/sources.list.d")
	is.NoErr(os.MkdirAll(d, 0o755))
	is.NoErr(os.WriteFile(filepath.Join(d, "debian.sources"), []byte(debianSources), 0o644))
	is.NoErr(os.WriteFile(filepath.Join(d, "google-cloud-sdk.list.disabled-by-farm"), []byte("deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n"), 0o644))
	is.NoErr(os.WriteFile(filepath.Join(d, "nodesource.list"), []byte("deb https://deb.nodesource.com/node_20.x nodistro main\n"), 0o644))

	sources, err := base.ReadAptSources(root)
	is.NoErr(err)
	is.Equal(len(sources), 4)
	is.Equal(sources[0].File, "/etc/apt/sources.list.d/debian.sources") // sorted: debian before nodesource
	mirror, err := base.PickMirror(sources, base.DefaultSuite)
	is.NoErr(err)
	is.Equal(mirror, "http://deb.debian.org/debian")
}

func TestNewPlan(t *testing.T) {
	sources := []base.Source{{Type: "deb", URI: "http://apt-mirror/debian/", Suite: "bookworm", Components: []string{"main"}}}
	const common = "iptables,ca-certificates,procps,gzip,zstd,pigz,xz-utils,apparmor"
	tests := []struct {
		name        string
		opts        base.Options
		sources     []base.Source
		wantTag     string
		wantMirror  string
		wantSuite   string
		wantInclude string
		// wantCompose is where the compose plugin comes from: "" for the suite's own
		// docker-compose package, else the fetch from another suite's package.
		wantCompose *base.ComposeFetch
		wantErr     string
	}{
		{
			name: "defaults: trixie, packages only", sources: sources,
			wantTag: "dindbundler/dind-base:trixie", wantMirror: "http://apt-mirror/debian", wantSuite: "trixie",
			wantInclude: "docker.io,docker-cli,containerd,runc,docker-compose," + common,
		},
		{
			name: "forky", opts: base.Options{Suite: "forky"}, sources: sources,
			wantTag: "dindbundler/dind-base:forky", wantMirror: "http://apt-mirror/debian", wantSuite: "forky",
			wantInclude: "docker.io,docker-cli,containerd,runc,docker-compose," + common,
		},
		{
			name: "bookworm takes trixie's compose package", opts: base.Options{Suite: "bookworm"}, sources: sources,
			wantTag: "dindbundler/dind-base:bookworm", wantMirror: "http://apt-mirror/debian", wantSuite: "bookworm",
			wantInclude: "docker.io," + common, // no docker-compose: bookworm's is the python v1
			wantCompose: &base.ComposeFetch{
				Suite: "trixie", Package: "docker-compose", Arch: "arm64", Mirror: "http://apt-mirror/debian",
				Keyring: "/usr/share/keyrings/debian-archive-keyring.gpg", Dir: "/cache/compose/debian-trixie-arm64",
			},
		},
		{
			name: "bookworm from an overridden mirror fetches compose there too", opts: base.Options{Suite: "bookworm", Mirror: "http://local/debian/"},
			wantTag: "dindbundler/dind-base:bookworm", wantMirror: "http://local/debian", wantSuite: "bookworm",
			wantInclude: "docker.io," + common,
			wantCompose: &base.ComposeFetch{
				Suite: "trixie", Package: "docker-compose", Arch: "arm64", Mirror: "http://local/debian",
				Keyring: "/usr/share/keyrings/debian-archive-keyring.gpg", Dir: "/cache/compose/debian-trixie-arm64",
			},
		},
		{
			name: "tag and mirror override", opts: base.Options{Tag: "x/base:1", Mirror: "http://local/debian/"},
			wantTag: "x/base:1", wantMirror: "http://local/debian", wantSuite: "trixie",
			wantInclude: "docker.io,docker-cli,containerd,runc,docker-compose," + common,
		},
		{name: "unknown suite", opts: base.Options{Suite: "hamm"}, sources: sources, wantErr: "use one of bookworm, trixie, forky"},
		{name: "no mirror anywhere", wantErr: "add a Debian source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			p, err := base.NewPlan(tt.opts, tt.sources, "/cache", "arm64")
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr))
				return
			}
			is.NoErr(err)
			is.Equal(p.Tag, tt.wantTag)
			is.Equal(p.Mirror, tt.wantMirror)
			is.Equal(p.Compose, tt.wantCompose)
			is.Equal(p.DebootstrapArgs("/tmp/rootfs"), []string{
				"--variant=minbase", "--include=" + tt.wantInclude,
				tt.wantSuite, "/tmp/rootfs", tt.wantMirror, "/usr/share/debootstrap/scripts/sid",
			})
			is.True(contains(p.Changes, "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"))
			is.True(contains(p.Changes, `CMD ["/bin/bash"]`))
			is.True(contains(p.Changes, "LABEL io.dindbundler.suite="+tt.wantSuite))
			if tt.wantCompose == nil {
				is.Equal(p.ImportChanges(""), p.Changes)
				return
			}
			is.True(!contains(p.Packages, "docker-compose"))
			is.Equal(p.ImportChanges("2.26.1-4")[len(p.Changes):], []string{
				"LABEL io.dindbundler.compose-version=2.26.1-4", "LABEL io.dindbundler.compose-from=debian-trixie",
			})
		})
	}
	t.Run("no cache directory", func(t *testing.T) {
		is := is.New(t)
		_, err := base.NewPlan(base.Options{}, sources, "", "amd64")
		is.True(err != nil)
	})
	t.Run("bookworm on an architecture Debian does not build", func(t *testing.T) {
		is := is.New(t)
		_, err := base.NewPlan(base.Options{Suite: "bookworm"}, sources, "/cache", "wasm")
		is.True(err != nil)
		is.True(strings.Contains(err.Error(), "no Debian architecture for GOARCH wasm"))
		_, err = base.NewPlan(base.Options{Suite: "trixie"}, sources, "/cache", "wasm")
		is.NoErr(err) // only a fetch from another suite needs the name
	})
}

// The fetch of trixie's compose package: apt with a configuration of its own under the cache
// (nothing of the host's apt setup read or changed), the suite signed by Debian's keyring,
// and the plugin cached by package version.
func TestComposeFetch(t *testing.T) {
	is := is.New(t)
	p, err := base.NewPlan(base.Options{Suite: "bookworm", Mirror: "http://apt-mirror/debian"}, nil, "/cache", "amd64")
	is.NoErr(err)
	c := *p.Compose
	is.Equal(c.SourcesList(), "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://apt-mirror/debian trixie main\n")
	is.Equal(c.SourcesListPath(), "/cache/compose/debian-trixie-amd64/apt/sources.list")
	is.Equal(c.AptEnv(), []string{"APT_CONFIG=/cache/compose/debian-trixie-amd64/apt/apt.conf", "LC_ALL=C"})
	is.Equal(c.AptDirs(), []string{
		"/cache/compose/debian-trixie-amd64/apt/parts",
		"/cache/compose/debian-trixie-amd64/apt/state/lists/partial",
		"/cache/compose/debian-trixie-amd64/apt/cache/archives/partial",
	})
	conf := c.AptConfig()
	for _, want := range []string{
		`Dir::Etc::Main "/dev/null";`,                                     // the host's apt.conf
		`Dir::Etc::Parts "/cache/compose/debian-trixie-amd64/apt/parts";`, // … and apt.conf.d
		`Dir::Etc::SourceList "/cache/compose/debian-trixie-amd64/apt/sources.list";`,
		`Dir::Etc::SourceParts "/cache/compose/debian-trixie-amd64/apt/parts";`,
		`Dir::Etc::Preferences "/dev/null";`,
		`Dir::Etc::Trusted "/dev/null";`,
		`Dir::State "/cache/compose/debian-trixie-amd64/apt/state";`,
		`Dir::State::status "/dev/null";`, // nothing installed here, the host's packages unread
		`Dir::Cache "/cache/compose/debian-trixie-amd64/apt/cache";`,
		`APT::Architecture "amd64";`,
		`Dir::Cache::pkgcache "";`,     // no 41 MB binary cache …
		`Acquire::GzipIndexes "true";`, // … and lists kept compressed
	} {
		if !strings.Contains(conf, want+"\n") {
			t.Errorf("apt configuration lacks %s:\n%s", want, conf)
		}
	}
	is.True(!strings.Contains(conf, "/etc/apt")) // no host apt file at all
	is.Equal(c.UpdateArgs(), []string{"-q", "update"})
	is.Equal(c.ShowArgs(), []string{"-q", "show", "--no-all-versions", "docker-compose"})
	is.Equal(c.DownloadArgs("2.26.1-4"), []string{"-q", "download", "docker-compose=2.26.1-4"})
	is.Equal(c.LockPath(), "/cache/compose/debian-trixie-amd64/lock")
	is.Equal(c.Binary("2.26.1-4"), "/cache/compose/debian-trixie-amd64/2.26.1-4/docker-compose")
	is.Equal(base.ComposePluginPath, "/usr/libexec/docker/cli-plugins/docker-compose") // where the package puts it and the CLI looks
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		name, record, want, wantErr string
	}{
		{
			name:   "apt-cache show record",
			record: "Package: docker-compose\nVersion: 2.26.1-4\nInstalled-Size: 62799\nDepends: libc6 (>= 2.34)\n\n",
			want:   "2.26.1-4",
		},
		{name: "epoch and stable update", record: "Package: x\nVersion: 1:2.26.1-4+deb13u1\n", want: "1:2.26.1-4+deb13u1"},
		{name: "first record only", record: "Package: x\n\nVersion: 9\n", wantErr: "no Version field"},
		{name: "a version that would leave the cache", record: "Version: ../../etc\n", wantErr: "not a Debian package version"},
		{name: "empty output", record: "", wantErr: "no Version field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := base.ParseVersion(tt.record)
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr))
				return
			}
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
}

func TestIptablesLegacyLinks(t *testing.T) {
	is := is.New(t)
	links := base.IptablesLegacyLinks()
	is.Equal(len(links), 6)
	is.Equal(links["/usr/local/sbin/.iptables-legacy/iptables"], "/usr/sbin/iptables-legacy")
	is.Equal(links["/usr/local/sbin/.iptables-legacy/ip6tables-restore"], "/usr/sbin/ip6tables-legacy-restore")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestOutdated(t *testing.T) {
	bookworm, err := base.LookupSuite("bookworm")
	if err != nil {
		t.Fatal(err)
	}
	trixie, err := base.LookupSuite("trixie")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{name: "built by this recipe", labels: map[string]string{"io.dindbundler.suite": "bookworm", base.RecipeLabel: base.Recipe(bookworm)}},
		{name: "built before recipes were labelled (compose compiled)", labels: map[string]string{"io.dindbundler.suite": "bookworm", "io.dindbundler.compose-version": "v2.40.3"}, want: true},
		{name: "another suite's base under this tag is left alone", labels: map[string]string{"io.dindbundler.suite": "trixie", base.RecipeLabel: base.Recipe(trixie)}},
		{name: "another suite's base from before recipes is left alone", labels: map[string]string{"io.dindbundler.suite": "trixie"}},
		{name: "a user's own image under the tag is left alone", labels: map[string]string{"maintainer": "platform team"}},
		{name: "no labels at all", labels: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(base.Outdated(tt.labels, bookworm), tt.want)
		})
	}
}

func TestRecipeNamesWhatGoesIn(t *testing.T) {
	is := is.New(t)
	bookworm, err := base.LookupSuite("bookworm")
	is.NoErr(err)
	is.Equal(base.Recipe(bookworm), base.Recipe(bookworm)) // stable
	changed := bookworm
	changed.ComposeFrom = ""
	is.True(base.Recipe(changed) != base.Recipe(bookworm)) // where compose comes from is part of it
	changed = bookworm
	changed.Docker = append([]string{"docker-cli"}, bookworm.Docker...)
	is.True(base.Recipe(changed) != base.Recipe(bookworm)) // so are the packages
	p, err := base.NewPlan(base.Options{Suite: "bookworm", Mirror: "http://deb.example/debian"}, nil, t.TempDir(), "amd64")
	is.NoErr(err)
	is.True(slices.Contains(p.Changes, "LABEL "+base.RecipeLabel+"="+base.Recipe(bookworm))) // the image carries it
}
