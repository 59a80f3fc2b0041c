package dind

import "strings"

// Paths inside the bundle image, spelled once for the Go side (buildctx lays the context out
// by them, inspect reads a bundle by them, pipeline configures the image with them). The shell
// side (entrypoint.sh, its parts, Dockerfile) spells them as sh and Dockerfile lines;
// TestScriptsUseBundlePaths checks those lines against these constants.
const (
	// AppDir holds the stack: compose file, .env, config, and the bundle's own lists.
	AppDir      = "/app"
	ComposeFile = AppDir + "/compose.yml"
	EnvFile     = AppDir + "/.env"
	ConfigDir   = AppDir + "/config"
	// FilesDir holds the files the compose file refers to on the host (buildctx.Carry).
	FilesDir  = AppDir + "/files"
	BundleDir = AppDir + "/bundle"
	// ManifestFile is the merged manifest; ImagesList its images.txt form for the entrypoint
	// (buildctx.ImagesList).
	ManifestFile = BundleDir + "/manifest.json"
	ImagesList   = BundleDir + "/images.txt"
	// ServedList (buildctx.ServedList) and RegistryIndex: what the bundle's registry serves.
	ServedList    = BundleDir + "/served.txt"
	RegistryIndex = BundleDir + "/registry.json"
	// ImagesDir is the docker-save directory the entrypoint loads (package bundleimage owns
	// its layout).
	ImagesDir = "/images"
	// BinDir holds the entrypoint, its RuntimeFiles and the registry command.
	BinDir         = "/usr/local/bin"
	EntrypointPath = BinDir + "/" + InstalledPrefix + "entrypoint.sh"
)

// Rel is an absolute bundle path without its leading "/": its name in a layer, and for what
// lies under AppDir and ImagesDir its name in the build context too.
func Rel(p string) string { return strings.TrimPrefix(p, "/") }
