// Package base builds the Docker-in-Docker base image from Debian packages without any
// registry: a debootstrap root filesystem holding the Docker engine, its CLI, the compose v2
// plugin and the tools the bundle entrypoint uses, imported into the engine as one image. The
// same builder makes the outer engines of the test matrix (enginetest). This file is the pure
// part: which suite, which mirror, which command lines, which image settings. It owns that image
// (dindbundler/dind-base), and the one recipe for images of Debian packages alone that stand in
// for images no registry serves here (BuildDebian: the demo's root filesystem, the builders'
// stand-ins); nothing of the bundle. It reaches the engine only through internal/engine.
package base

import (
	"bufio"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultSuite is the Debian release of the default base: trixie, the stable release, serves
// Engine 26.1, containerd 1.7 and compose 2.26 as packages, so nothing is compiled and the
// inner engine loads zstd archives natively (Engine >= 23). Measured cold here under the same
// load, trixie built in 1m50s (431 MB) and forky in about 2m30s (485 MB); forky is also a
// moving target (testing) whose Release file this mirror serves past its Valid-Until. The
// engine matrix uses forky for Engine 28.5 (MatrixSuite).
const DefaultSuite = "trixie"

// DefaultTag is the base image the bundle's Dockerfile builds FROM when none is configured.
var DefaultTag = TagFor(DefaultSuite)

// TagFor is the base image tag built from suite.
func TagFor(suite string) string { return "dindbundler/dind-base:" + suite }

const (
	// ComposeModule and ComposeVersion name the compose v2 plugin compiled for suites whose
	// archive has no v2 plugin (bookworm ships only the end-of-life python v1).
	// `go install module/cmd@version` refuses this module (its go.mod has exclude directives),
	// so the plugin is built from the downloaded module directory instead.
	ComposeModule  = "github.com/docker/compose/v2"
	ComposeVersion = "v2.40.3"
	// ComposePluginPath is where the docker CLI looks for a compiled compose plugin.
	ComposePluginPath = "/usr/local/lib/docker/cli-plugins/docker-compose"
	// IptablesLegacyDir holds iptables-legacy symlinks named like the plain tools, so the
	// entrypoint switches to legacy by putting this directory first in PATH, exactly as it does
	// on the official docker:dind image (same path there).
	IptablesLegacyDir = "/usr/local/sbin/.iptables-legacy"
	// DebootstrapScript is the suite script passed to debootstrap. sid's script builds every
	// current Debian release; bookworm's debootstrap has no script named forky.
	DebootstrapScript = "/usr/share/debootstrap/scripts/sid"
)

// Packages are installed on top of minbase in every suite: iptables for published ports,
// gzip/zstd/pigz/xz-utils to read compressed image archives, procps for ps/pkill when
// debugging, ca-certificates for registries a stack may still talk to, and apparmor because a
// nested dockerd on an AppArmor host loads its docker-default profile with apparmor_parser and
// otherwise cannot start containers.
var Packages = []string{
	"iptables",
	"ca-certificates",
	"procps",
	"gzip",
	"zstd",
	"pigz",
	"xz-utils",
	"apparmor",
}

// Suite is what one Debian release needs for a DinD base.
type Suite struct {
	Name string
	// Docker are the engine packages, installed before Packages.
	Docker []string
	// Engine is the Docker Engine version the suite ships, for labels and messages.
	Engine string
	// CompileCompose: the archive has no compose v2 plugin, so it is compiled from source.
	CompileCompose bool
}

// Suites are the releases Ensure builds. bookworm stays for the inner-20.10 cell of the
// engine matrix; trixie and forky are packages only.
var Suites = []Suite{
	// docker.io 20.10 brings dockerd, containerd, runc, tini (docker-init) and the CLI.
	{Name: "bookworm", Docker: []string{"docker.io"}, Engine: "20.10.24", CompileCompose: true},
	// From trixie on, docker.io no longer ships the CLI: docker-cli is its own package.
	{Name: "trixie", Docker: []string{"docker.io", "docker-cli", "containerd", "runc", "docker-compose"}, Engine: "26.1.5"},
	{Name: "forky", Docker: []string{"docker.io", "docker-cli", "containerd", "runc", "docker-compose"}, Engine: "28.5.2"},
}

// LookupSuite returns the Suites entry called name.
func LookupSuite(name string) (Suite, error) {
	for _, s := range Suites {
		if s.Name == name {
			return s, nil
		}
	}
	names := make([]string, len(Suites))
	for i, s := range Suites {
		names[i] = s.Name
	}
	return Suite{}, fmt.Errorf("no DinD base recipe for Debian suite %q: use one of %s", name, strings.Join(names, ", "))
}

// The apt source files read for the mirror, relative to the filesystem root:
// the classic list and the two drop-in forms (one-line *.list, deb822 *.sources).
const (
	SourcesList    = "etc/apt/sources.list"
	SourcesListDir = "etc/apt/sources.list.d"
)

// Source is one apt source line (or one URI×suite of a deb822 stanza).
type Source struct {
	File       string // where it was read, for messages
	Type       string // deb or deb-src
	URI        string
	Suite      string
	Components []string
}

// debianSuites are names a Debian archive carries; an entry with one of these is a Debian
// mirror even when it does not list bookworm itself (a trixie host mirrors bookworm too).
// Third-party repositories use other suite names ("nodistro", "cloud-sdk-bookworm").
var debianSuites = []string{
	"bookworm", "trixie", "forky", "bullseye", "buster",
	"stable", "testing", "unstable", "sid", "oldstable",
}

// PickMirror chooses the Debian mirror debootstrap should fetch suite from: the first binary
// source that carries suite's main component, else the first that carries another Debian
// release's main component. Security, updates and backports suites are skipped: they hold only
// part of a release.
func PickMirror(sources []Source, suite string) (string, error) {
	usable := func(s Source) bool {
		if s.Type != "deb" || !slices.Contains(s.Components, "main") {
			return false
		}
		scheme, _, ok := strings.Cut(s.URI, "://")
		return ok && (scheme == "http" || scheme == "https" || scheme == "file")
	}
	for _, s := range sources {
		if usable(s) && s.Suite == suite {
			return strings.TrimRight(s.URI, "/"), nil
		}
	}
	for _, s := range sources {
		if usable(s) && slices.Contains(debianSuites, s.Suite) {
			return strings.TrimRight(s.URI, "/"), nil
		}
	}
	return "", fmt.Errorf("no Debian mirror in the apt configuration (/%s, /%s/*): add a Debian source such as `deb <mirror> %s main` there, or set Options.Mirror", SourcesList, SourcesListDir, suite)
}

// ParseList reads the one-line format: `deb [opt=val …] URI suite component…`, # comments.
func ParseList(file, text string) ([]Source, error) {
	var out []Source
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		typ, rest := f[0], f[1:]
		if len(rest) > 0 && strings.HasPrefix(rest[0], "[") {
			// Options may hold spaces: "[ arch=amd64 signed-by=/k.gpg ]".
			end := slices.IndexFunc(rest, func(s string) bool { return strings.HasSuffix(s, "]") })
			if end < 0 {
				return nil, fmt.Errorf("parse %s line %d: unclosed [ options", file, n)
			}
			rest = rest[end+1:]
		}
		if len(rest) < 2 {
			return nil, fmt.Errorf("parse %s line %d: want `%s URI suite [component…]`", file, n, typ)
		}
		out = append(out, Source{File: file, Type: typ, URI: rest[0], Suite: rest[1], Components: rest[2:]})
	}
	return out, sc.Err()
}

// ParseDeb822 reads the deb822 format (*.sources): stanzas separated by blank lines, fields
// Types, URIs, Suites, Components (each a space-separated list), optional Enabled: no.
// Continuation lines start with white space; # lines are comments.
func ParseDeb822(file, text string) ([]Source, error) {
	var out []Source
	stanza := map[string]string{}
	var last string
	flush := func() {
		defer func() { stanza, last = map[string]string{}, "" }()
		if len(stanza) == 0 || strings.EqualFold(strings.TrimSpace(stanza["enabled"]), "no") {
			return
		}
		comps := strings.Fields(stanza["components"])
		for _, typ := range strings.Fields(stanza["types"]) {
			for _, uri := range strings.Fields(stanza["uris"]) {
				for _, suite := range strings.Fields(stanza["suites"]) {
					out = append(out, Source{File: file, Type: typ, URI: uri, Suite: suite, Components: comps})
				}
			}
		}
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("parse %s line %d: continuation line outside a field", file, n)
			}
			stanza[last] += " " + strings.TrimSpace(line)
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("parse %s line %d: want `Field: value`", file, n)
			}
			last = strings.ToLower(strings.TrimSpace(k))
			stanza[last] = strings.TrimSpace(v)
		}
	}
	flush()
	return out, sc.Err()
}

// SourceFiles orders the apt source files found under root the way apt reads them:
// sources.list first, then sources.list.d entries by name; only *.list and *.sources count
// (apt ignores anything else, such as "*.list.disabled").
func SourceFiles(names []string) []string {
	var out []string
	var dropins []string
	for _, n := range names {
		switch {
		case n == SourcesList:
			out = append(out, n)
		case filepath.Dir(n) == SourcesListDir && (strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources")):
			dropins = append(dropins, n)
		}
	}
	slices.Sort(dropins)
	return append(out, dropins...)
}

// Parse reads one apt source file by its kind.
func Parse(file, text string) ([]Source, error) {
	if strings.HasSuffix(file, ".sources") {
		return ParseDeb822(file, text)
	}
	return ParseList(file, text)
}

// Plan is everything Ensure will do, computed without touching the machine.
type Plan struct {
	Tag      string
	Suite    string
	Mirror   string
	Packages []string
	// ComposeVersion and ComposeBinary are set only when the suite needs compose compiled:
	// the cached plugin, one file per version and platform, so a second build does not
	// compile it again.
	ComposeVersion string
	ComposeBinary  string
	GOARCH         string
	// Changes are the Dockerfile-style settings applied at import: a root filesystem carries
	// no image config of its own.
	Changes []string
}

// NewPlan fills defaults and picks the mirror (opts.Mirror wins over the apt sources).
func NewPlan(opts Options, sources []Source, cacheDir, goarch string) (Plan, error) {
	if cacheDir == "" {
		return Plan{}, errors.New("plan base image: no cache directory")
	}
	suiteName := opts.Suite
	if suiteName == "" {
		suiteName = DefaultSuite
	}
	tag := opts.Tag
	if tag == "" {
		tag = TagFor(suiteName)
	}
	suite, err := LookupSuite(suiteName)
	if err != nil {
		return Plan{}, fmt.Errorf("plan base image %s: %w", tag, err)
	}
	mirror := strings.TrimRight(opts.Mirror, "/")
	if mirror == "" {
		if mirror, err = PickMirror(sources, suite.Name); err != nil {
			return Plan{}, fmt.Errorf("plan base image %s: %w", tag, err)
		}
	}
	p := Plan{
		Tag:      tag,
		Suite:    suite.Name,
		Mirror:   mirror,
		Packages: slices.Concat(suite.Docker, Packages),
		GOARCH:   goarch,
		Changes: []string{
			"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			`CMD ["/bin/bash"]`,
			`LABEL org.opencontainers.image.title="dindbundler DinD base (Debian ` + suite.Name + `)"`,
			"LABEL io.dindbundler.suite=" + suite.Name,
			"LABEL io.dindbundler.engine-version=" + suite.Engine,
		},
	}
	if suite.CompileCompose {
		p.ComposeVersion = ComposeVersion
		p.ComposeBinary = filepath.Join(cacheDir, "compose", ComposeVersion, "linux-"+goarch, "docker-compose")
		p.Changes = append(p.Changes, "LABEL io.dindbundler.compose-version="+ComposeVersion)
	}
	return p, nil
}

// DebootstrapArgs is the debootstrap command line (without the program) building into dir.
// sid's script is named explicitly: it builds every current suite, and an older debootstrap
// (bookworm's) has no script for a newer suite such as forky.
func (p Plan) DebootstrapArgs(dir string) []string {
	return []string{"--variant=minbase", "--include=" + strings.Join(p.Packages, ","), p.Suite, dir, p.Mirror, DebootstrapScript}
}

// ComposeDownloadArgs is the `go` command line that fetches the compose module source and
// prints its directory as JSON.
func (p Plan) ComposeDownloadArgs() []string {
	return []string{"mod", "download", "-json", ComposeModule + "@" + p.ComposeVersion}
}

// ComposeBuildArgs is the `go` command line, run in the module directory, that compiles the
// plugin to out. The version is stamped the way compose's own Makefile does, so
// `docker compose version` reports it; -s -w drop the symbol tables (a third of the size).
func (p Plan) ComposeBuildArgs(out string) []string {
	return []string{"build", "-trimpath",
		"-ldflags=-s -w -X " + ComposeModule + "/internal.Version=" + p.ComposeVersion,
		"-o", out, "./cmd"}
}

// ComposeBuildEnv is the environment for both go commands on top of the caller's: a static
// linux binary for the image's architecture, and no workspace or GOFLAGS of the caller's
// project leaking into a build of someone else's module.
func (p Plan) ComposeBuildEnv() []string {
	return []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + p.GOARCH, "GOWORK=off", "GOFLAGS=-mod=readonly", "GO111MODULE=on"}
}

// IptablesLegacyLinks maps each link in IptablesLegacyDir to its legacy binary in Debian.
func IptablesLegacyLinks() map[string]string {
	links := map[string]string{}
	for _, t := range []string{"iptables", "ip6tables"} {
		for _, suffix := range []string{"", "-save", "-restore"} {
			links[IptablesLegacyDir+"/"+t+suffix] = "/usr/sbin/" + t + "-legacy" + suffix
		}
	}
	return links
}

// Leftovers are root filesystem paths whose contents are removed before import: downloaded
// .debs and package lists debootstrap leaves behind, which only make the image larger (apt
// update refetches lists).
var Leftovers = []string{"var/cache/apt/archives", "var/lib/apt/lists"}
