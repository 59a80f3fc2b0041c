// Command dindbundler-producer is the embedded SAM producer as a command, with the external
// producer's contract:
//
//	dindbundler-producer deploy --template T --env E --mode docker --build-only --bundle-manifest [--output ROOT]
//
// It builds the template's function images and the compose file's service images, and writes
// <ROOT>/<E>/bundle/manifest.json and the runtime config <ROOT>/<E>/config/{functions,routing}.yml
// (ROOT defaults to <template dir>/.<brand>). Everything else
// comes from the environment and the working directory (the project root): see usage.
//
// It owns the command line only: the flags go to internal/config (config.LoadFlags), which
// resolves every default, and the build is producer/embedded's. It must not compute a default
// of its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/producer/embedded"
)

const usageText = `usage: dindbundler-producer deploy --template T --env E --mode docker --build-only --bundle-manifest [--output ROOT]

Builds the images of SAM template T and of the project's compose file, and writes
ROOT/E/bundle/manifest.json and ROOT/E/config/functions.yml, routing.yml (ROOT default:
<template dir>/.<brand>).

The working directory is the project root. Read from the environment (the project's .env
supplies interpolation variables, the process environment wins):
  COMPOSE_FILE         compose file (default docker-compose.docker.yml if present, else
                       docker-compose.yml; neither: no service images)
  PARAMETER_OVERRIDES  Key=Value,Key2=Value2 over the template's Parameters
  PROJECT_NAME         compose project (default <brand>-<env>)
  IMAGE_PREFIX         function images <prefix>-<function>:<tag> (default <brand>)
  IMAGE_TAG            (default latest)
  CONTAINER_REGISTRY   registry host[:port] the stack pulls function images from: they are
                       named <registry>/<prefix>-<function>:<tag> (default: none)
  RUNTIME_BASE_<RUNTIME>  base image of a runtime, e.g. RUNTIME_BASE_PYTHON3_12
  DEFAULTS_FILE        brand defaults, CLI_CMD gives the brand (default config/defaults.env, esb)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks command-line mistakes: exit status 2 with the usage text.
var errUsage = errors.New("usage")

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	flags, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usageText)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "dindbundler-producer: %v\n\n%s", err, usageText)
		return 2
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(stderr, "dindbundler-producer: %v\n", err)
		return 1
	}
	req, err := resolve(flags, wd, environ)
	if err != nil {
		fmt.Fprintf(stderr, "dindbundler-producer: %v\n", err)
		return 1
	}
	api, err := engine.New()
	if err != nil {
		fmt.Fprintf(stderr, "dindbundler-producer: %v\n", err)
		return 1
	}
	defer api.Close()
	if _, err := embedded.Run(ctx, api, req, stderr); err != nil {
		fmt.Fprintf(stderr, "dindbundler-producer: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, req.ManifestPath())
	return 0
}

// parseArgs reads the contract flags; anything else is a usage error.
func parseArgs(args []string, stderr io.Writer) (config.Flags, error) {
	var req config.Flags
	var mode string
	if len(args) == 0 {
		return req, fmt.Errorf("%w: no command given (want deploy)", errUsage)
	}
	switch args[0] {
	case "deploy":
	case "-h", "-help", "--help", "help":
		return req, flag.ErrHelp
	default:
		return req, fmt.Errorf("%w: unknown command %q (want deploy)", errUsage, args[0])
	}
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, with the usage text, by run
	fs.StringVar(&req.Template, "template", "", "SAM template path")
	fs.StringVar(&req.Env, "env", "", "environment name")
	fs.StringVar(&mode, "mode", "", "deploy mode (only docker)")
	buildOnly := fs.Bool("build-only", false, "build images without deploying (required)")
	bundleManifest := fs.Bool("bundle-manifest", false, "write the bundle manifest (required)")
	fs.StringVar(&req.Output, "output", "", "output root")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return req, err
		}
		return req, fmt.Errorf("%w: %v", errUsage, err)
	}
	switch {
	case fs.NArg() > 0:
		return req, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	case req.Template == "":
		return req, fmt.Errorf("%w: --template is required", errUsage)
	case req.Env == "":
		return req, fmt.Errorf("%w: --env is required", errUsage)
	case mode == "":
		return req, fmt.Errorf("%w: --mode is required (docker)", errUsage)
	case mode != embedded.ModeDocker:
		return req, fmt.Errorf("%w: --mode %q is not supported: the embedded producer builds for docker only", errUsage, mode)
	case !*buildOnly:
		return req, fmt.Errorf("%w: --build-only is required: the embedded producer only builds images", errUsage)
	case !*bundleManifest:
		return req, fmt.Errorf("%w: --bundle-manifest is required: the manifest is the producer's output", errUsage)
	}
	return req, nil
}
