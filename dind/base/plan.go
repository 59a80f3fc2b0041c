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
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
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
	// ComposePackage is Debian's compose v2 plugin package (docker-compose from trixie on).
	ComposePackage = "docker-compose"
	// ComposePluginPath is where that package puts the plugin, one of the directories the
	// docker CLI (Engine 20.10's too) searches for CLI plugins.
	ComposePluginPath = "/usr/libexec/docker/cli-plugins/docker-compose"
	// DebianKeyring verifies the Release file of the suite the compose package comes from;
	// debootstrap verifies with the same keyring (package debian-archive-keyring).
	DebianKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
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
	// ComposeFrom is the newer suite whose ComposePackage supplies the compose v2 plugin when
	// this suite's archive has none (bookworm ships only the end-of-life python v1). The
	// plugin must run on this suite's libc: trixie's 2.26.1 is linked against libc alone and
	// needs GLIBC 2.34, bookworm has 2.36 (the build runs it in the root filesystem to check).
	ComposeFrom string
}

// Suites are the releases Ensure builds, all of Debian packages: bookworm stays for the
// inner-20.10 cell of the engine matrix and takes its compose plugin from trixie's package;
// trixie and forky install their own.
var Suites = []Suite{
	// docker.io 20.10 brings dockerd, containerd, runc, tini (docker-init) and the CLI.
	{Name: "bookworm", Docker: []string{"docker.io"}, Engine: "20.10.24", ComposeFrom: "trixie"},
	// From trixie on, docker.io no longer ships the CLI: docker-cli is its own package.
	{Name: "trixie", Docker: []string{"docker.io", "docker-cli", "containerd", "runc", "docker-compose"}, Engine: "26.1.5"},
	{Name: "forky", Docker: []string{"docker.io", "docker-cli", "containerd", "runc", "docker-compose"}, Engine: "28.5.2"},
}

// RecipeLabel is the label that names the recipe a base image was built by (Recipe), so Ensure
// rebuilds an image of its own tag that an older recipe made (bookworm's compiled compose, a
// package list since changed) instead of keeping it for ever because the tag exists.
const RecipeLabel = "io.dindbundler.base-recipe"

// recipeRevision changes when the build steps change in a way the suite's fields do not show.
const recipeRevision = "2"

// Recipe names what goes into suite's base: its packages, where its compose plugin comes from
// and the build's revision; not the mirror, which serves the same packages anywhere.
func Recipe(suite Suite) string {
	h := sha256.New()
	fmt.Fprintf(h, "revision %s\nsuite %s\ndocker %q\npackages %q\ncompose-from %q\n",
		recipeRevision, suite.Name, suite.Docker, Packages, suite.ComposeFrom)
	return fmt.Sprintf("%x", h.Sum(nil))[:16]
}

// Outdated says whether an image holding labels was made by Ensure for suite with another
// recipe. An image Ensure did not make for this suite is never outdated: a user's own base under
// the tag (no suite label), or another suite's base a caller named by tag without its suite
// (bench's BASE_IMAGE with the bookworm base) — neither is ours to replace.
func Outdated(labels map[string]string, suite Suite) bool {
	if labels["io.dindbundler.suite"] != suite.Name {
		return false
	}
	return labels[RecipeLabel] != Recipe(suite)
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
	// Compose is set only when the suite takes its compose plugin from another suite's
	// package (Suite.ComposeFrom).
	Compose *ComposeFetch
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
		Changes: []string{
			"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			`CMD ["/bin/bash"]`,
			`LABEL org.opencontainers.image.title="dindbundler DinD base (Debian ` + suite.Name + `)"`,
			"LABEL io.dindbundler.suite=" + suite.Name,
			"LABEL io.dindbundler.engine-version=" + suite.Engine,
			"LABEL " + RecipeLabel + "=" + Recipe(suite),
		},
	}
	if suite.ComposeFrom != "" {
		arch, ok := debianArch[goarch]
		if !ok {
			return Plan{}, fmt.Errorf("plan base image %s: no Debian architecture for GOARCH %s: build the %s base on one Debian builds (amd64, arm64, armhf, i386, ppc64el, s390x, riscv64), or use another suite", tag, goarch, suite.Name)
		}
		p.Compose = &ComposeFetch{
			Suite:   suite.ComposeFrom,
			Package: ComposePackage,
			Arch:    arch,
			Mirror:  mirror,
			Keyring: DebianKeyring,
			Dir:     filepath.Join(cacheDir, "compose", "debian-"+suite.ComposeFrom+"-"+arch),
		}
	}
	return p, nil
}

// DebootstrapArgs is the debootstrap command line (without the program) building into dir.
// sid's script is named explicitly: it builds every current suite, and an older debootstrap
// (bookworm's) has no script for a newer suite such as forky.
func (p Plan) DebootstrapArgs(dir string) []string {
	return []string{"--variant=minbase", "--include=" + strings.Join(p.Packages, ","), p.Suite, dir, p.Mirror, DebootstrapScript}
}

// debianArch maps Go's architecture names to Debian's, for the ones Debian builds.
var debianArch = map[string]string{
	"amd64": "amd64", "arm64": "arm64", "386": "i386", "arm": "armhf",
	"ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64", "loong64": "loong64",
}

// ComposeFetch is how the compose plugin of another suite's package is fetched: apt run with
// a configuration of its own under Dir (sources, lists, downloads; the host's apt sources and
// state are neither read nor changed), the Release file verified with Keyring and the package
// with the Packages index's SHA256, as apt always does. Dir also holds the lock two builds take
// and the extracted plugins, one per package version.
type ComposeFetch struct {
	Suite   string // Debian suite of the package, e.g. trixie
	Package string // ComposePackage
	Arch    string // Debian architecture
	Mirror  string
	Keyring string
	Dir     string
}

// SourcesList is the one-line apt source of Suite's main component on Mirror, signed by Keyring.
func (c ComposeFetch) SourcesList() string {
	return fmt.Sprintf("deb [signed-by=%s] %s %s main\n", c.Keyring, c.Mirror, c.Suite)
}

// The files and directories of apt's private configuration under Dir.
func (c ComposeFetch) aptDir(name string) string { return filepath.Join(c.Dir, "apt", name) }

// AptDirs are the directories apt needs to exist before it runs.
func (c ComposeFetch) AptDirs() []string {
	return []string{
		c.aptDir("parts"),
		c.aptDir("state/lists/partial"),
		c.aptDir("cache/archives/partial"),
	}
}

// SourcesListPath is the file SourcesList goes to.
func (c ComposeFetch) SourcesListPath() string { return c.aptDir("sources.list") }

// AptConfigPath is the file AptEnv points APT_CONFIG at.
func (c ComposeFetch) AptConfigPath() string { return c.aptDir("apt.conf") }

// AptConfig is apt's whole configuration: apt reads APT_CONFIG first, and this file moves
// every other place apt reads from (apt.conf, apt.conf.d, sources, preferences, trusted keys,
// the dpkg status) to empty or private ones, so nothing of the host's apt setup applies and
// apt's state stays under Dir. No dpkg status: nothing is installed, only downloaded. apt
// stays root for downloads: its sandbox user _apt cannot enter the user's cache directory
// (/root is private), where apt would drop the sandbox anyway, with a warning; what makes the
// download trustworthy is the signature and the hashes, which apt checks either way. The
// lists stay compressed and apt keeps no binary caches of them: 20 MB under Dir instead of
// 137 MB, for a second more of parsing on the rare build that reads them.
func (c ComposeFetch) AptConfig() string {
	lines := []string{
		`Dir::Etc::Main "/dev/null";`,
		`Dir::Etc::Parts "` + c.aptDir("parts") + `";`,
		`Dir::Etc::SourceList "` + c.SourcesListPath() + `";`,
		`Dir::Etc::SourceParts "` + c.aptDir("parts") + `";`,
		`Dir::Etc::Preferences "/dev/null";`,
		`Dir::Etc::PreferencesParts "` + c.aptDir("parts") + `";`,
		`Dir::Etc::Trusted "/dev/null";`,
		`Dir::Etc::TrustedParts "` + c.aptDir("parts") + `";`,
		`Dir::State "` + c.aptDir("state") + `";`,
		`Dir::State::status "/dev/null";`,
		`Dir::Cache "` + c.aptDir("cache") + `";`,
		`Dir::Cache::pkgcache "";`,
		`Dir::Cache::srcpkgcache "";`,
		`Acquire::GzipIndexes "true";`,
		`APT::Architecture "` + c.Arch + `";`,
		`APT::Architectures { "` + c.Arch + `"; };`,
		`Acquire::Languages "none";`,
		`APT::Sandbox::User "root";`,
	}
	return strings.Join(lines, "\n") + "\n"
}

// AptEnv is the environment of every apt command on top of the caller's.
func (c ComposeFetch) AptEnv() []string {
	return []string{"APT_CONFIG=" + c.AptConfigPath(), "LC_ALL=C"}
}

// UpdateArgs is the apt-get command line fetching Suite's package lists.
func (c ComposeFetch) UpdateArgs() []string { return []string{"-q", "update"} }

// ShowArgs is the apt-cache command line printing the candidate's record (ParseVersion reads it).
func (c ComposeFetch) ShowArgs() []string {
	return []string{"-q", "show", "--no-all-versions", c.Package}
}

// DownloadArgs is the apt-get command line downloading version of the package into the
// current directory.
func (c ComposeFetch) DownloadArgs(version string) []string {
	return []string{"-q", "download", c.Package + "=" + version}
}

// LockPath is the lock two builds take around apt's state and the plugin cache.
func (c ComposeFetch) LockPath() string { return filepath.Join(c.Dir, "lock") }

// Binary is the cached plugin of version: one file per package version (the directory is
// already per suite and architecture), so a second build downloads nothing.
func (c ComposeFetch) Binary(version string) string {
	return filepath.Join(c.Dir, version, "docker-compose")
}

// debianVersion is Debian policy's version syntax: [epoch:]upstream[-revision].
var debianVersion = regexp.MustCompile(`^([0-9]+:)?[0-9][A-Za-z0-9.+~-]*$`)

// ParseVersion reads the Version field of the first record apt-cache show printed.
func ParseVersion(record string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(record))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break // the end of the first record
		}
		if v, ok := strings.CutPrefix(line, "Version:"); ok {
			v = strings.TrimSpace(v)
			// A version names a directory of the cache: Debian's syntax only, which has no
			// path separators.
			if !debianVersion.MatchString(v) {
				return "", fmt.Errorf("%q is not a Debian package version", v)
			}
			return v, nil
		}
	}
	return "", errors.New("no Version field in the package record")
}

// ImportChanges are the Changes of the import, with the compose package's version as a label
// when the plugin came from another suite (composeVersion, "" otherwise).
func (p Plan) ImportChanges(composeVersion string) []string {
	if p.Compose == nil || composeVersion == "" {
		return p.Changes
	}
	return append(slices.Clone(p.Changes),
		"LABEL io.dindbundler.compose-version="+composeVersion,
		"LABEL io.dindbundler.compose-from=debian-"+p.Compose.Suite)
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
