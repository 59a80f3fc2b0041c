//go:build ignore
// +build ignore

package main

import (
	_context "context"
	_flag "flag"
	_fmt "fmt"
	_io "io"
	_log "log"
	_os "os"
	_signal "os/signal"
	_filepath "path/filepath"
	_sort "sort"
	_strconv "strconv"
	_strings "strings"
	_syscall "syscall"
	_tabwriter "text/tabwriter"
	_time "time"
	dev_mageimport "github.com/dindbundler/dindbundler/dev"
	targets_mageimport "github.com/dindbundler/dindbundler/targets"
	
)

func main() {
	// Use local types and functions in order to avoid name conflicts with additional magefiles.
	type arguments struct {
		Verbose       bool          // print out log statements
		List          bool          // print out a list of targets
		Help          bool          // print out help for a specific target
		Timeout       _time.Duration // set a timeout to running the targets
		Args          []string      // args contain the non-flag command-line arguments
	}

	parseBool := func(env string) bool {
		val := _os.Getenv(env)
		if val == "" {
			return false
		}		
		b, err := _strconv.ParseBool(val)
		if err != nil {
			_log.Printf("warning: environment variable %s is not a valid bool value: %v", env, val)
			return false
		}
		return b
	}

	parseDuration := func(env string) _time.Duration {
		val := _os.Getenv(env)
		if val == "" {
			return 0
		}		
		d, err := _time.ParseDuration(val)
		if err != nil {
			_log.Printf("warning: environment variable %s is not a valid duration value: %v", env, val)
			return 0
		}
		return d
	}
	args := arguments{}
	fs := _flag.FlagSet{}
	fs.SetOutput(_os.Stdout)

	// default flag set with ExitOnError and auto generated PrintDefaults should be sufficient
	fs.BoolVar(&args.Verbose, "v", parseBool("MAGEFILE_VERBOSE"), "show verbose output when running targets")
	fs.BoolVar(&args.List, "l", parseBool("MAGEFILE_LIST"), "list targets for this binary")
	fs.BoolVar(&args.Help, "h", parseBool("MAGEFILE_HELP"), "print out help for a specific target")
	fs.DurationVar(&args.Timeout, "t", parseDuration("MAGEFILE_TIMEOUT"), "timeout in duration parsable format (e.g. 5m30s)")
	fs.Usage = func() {
		_fmt.Fprintf(_os.Stdout, `
%s [options] [target]

Commands:
  -l    list targets in this binary
  -h    show this help

Options:
  -h    show description of a target
  -t <string>
        timeout in duration parsable format (e.g. 5m30s)
  -v    show verbose output when running targets
 `[1:], _filepath.Base(_os.Args[0]))
	}
	if err := fs.Parse(_os.Args[1:]); err != nil {
		// flag will have printed out an error already.
		return
	}
	args.Args = fs.Args()
	if args.Help && len(args.Args) == 0 {
		fs.Usage()
		return
	}
		
	var printName = func(str string) string {
	// color is ANSI color type
	type color int

	// If you add/change/remove any items in this constant,
	// you will need to run "stringer -type=color" in this directory again.
	// NOTE: Please keep the list in an alphabetical order.
	const (
		black color = iota
		red
		green
		yellow
		blue
		magenta
		cyan
		white
		brightblack
		brightred
		brightgreen
		brightyellow
		brightblue
		brightmagenta
		brightcyan
		brightwhite
	)

	// AnsiColor are ANSI color codes for supported terminal colors.
	var ansiColor = map[color]string{
		black:         "\u001b[30m",
		red:           "\u001b[31m",
		green:         "\u001b[32m",
		yellow:        "\u001b[33m",
		blue:          "\u001b[34m",
		magenta:       "\u001b[35m",
		cyan:          "\u001b[36m",
		white:         "\u001b[37m",
		brightblack:   "\u001b[30;1m",
		brightred:     "\u001b[31;1m",
		brightgreen:   "\u001b[32;1m",
		brightyellow:  "\u001b[33;1m",
		brightblue:    "\u001b[34;1m",
		brightmagenta: "\u001b[35;1m",
		brightcyan:    "\u001b[36;1m",
		brightwhite:   "\u001b[37;1m",
	}

	const colorName = "blackredgreenyellowbluemagentacyanwhitebrightblackbrightredbrightgreenbrightyellowbrightbluebrightmagentabrightcyanbrightwhite"

	var colorIndex = [...]uint8{0, 5, 8, 13, 19, 23, 30, 34, 39, 50, 59, 70, 82, 92, 105, 115, 126}

	colorToLowerString := func(i color) string {
		if i < 0 || i >= color(len(colorIndex)-1) {
			return "color(" + _strconv.FormatInt(int64(i), 10) + ")"
		}
		return colorName[colorIndex[i]:colorIndex[i+1]]
	}

	// ansiColorReset is an ANSI color code to reset the terminal color.
	const ansiColorReset = "\033[0m"

	// defaultTargetAnsiColor is a default ANSI color for colorizing targets.
	// It is set to Cyan as an arbitrary color, because it has a neutral meaning
	var defaultTargetAnsiColor = ansiColor[cyan]

	getAnsiColor := func(color string) (string, bool) {
		colorLower := _strings.ToLower(color)
		for k, v := range ansiColor {
			colorConstLower := colorToLowerString(k)
			if colorConstLower == colorLower {
				return v, true
			}
		}
		return "", false
	}

	// Terminals which  don't support color:
	//
	//	TERM=vt100
	//	TERM=cygwin
	//	TERM=xterm-mono
	var noColorTerms = map[string]bool{
		"vt100":      false,
		"cygwin":     false,
		"xterm-mono": false,
	}

	// terminalSupportsColor checks if the current console supports color output
	//
	// Supported:
	//
	//	linux, mac, or windows's ConEmu, Cmder, putty, git-bash.exe, pwsh.exe
	//
	// Not supported:
	//
	//	windows cmd.exe, powerShell.exe
	terminalSupportsColor := func() bool {
		envTerm := _os.Getenv("TERM")
		if _, ok := noColorTerms[envTerm]; ok {
			return false
		}
		return true
	}

	// enableColor reports whether the user has requested to enable a color output.
	enableColor := func() bool {
		b, _ := _strconv.ParseBool(_os.Getenv("MAGEFILE_ENABLE_COLOR"))
		return b
	}

	// targetColor returns the ANSI color which should be used to colorize targets.
	targetColor := func() string {
		s, exists := _os.LookupEnv("MAGEFILE_TARGET_COLOR")
		if exists {
			if c, ok := getAnsiColor(s); ok {
				return c
			}
		}
		return defaultTargetAnsiColor
	}

	// store the color terminal variables, so that the detection isn't repeated for each target
	var enableColorValue = enableColor() && terminalSupportsColor()
	var targetColorValue = targetColor()

	if enableColorValue {
		return _fmt.Sprintf("%s%s%s", targetColorValue, str, ansiColorReset)
	}

	return str
}


	list := func() error {
		_fmt.Println(`The bundle pipeline, one target per stage: Certs → Deploy → Manifest → Pull → Save → Image, from package targets (importable by any project), and the developer harness from package dev. This file only imports them: a target written here could not be reused by another project.
`)
		targets := map[string]string{
			"bench": "measures the pipeline against the seed tool's docker save + docker build on a synthetic stack (BENCH_SIZE, default 1GiB; BENCH_IMAGES, 8; BENCH_COMPRESSIBLE, 0.5; BENCH_COMPRESSIONS, none,gzip,zstd) on each engine of BENCH_ENGINES (default host; e.g.",
			"demo": "bundles examples/demo on a fresh checkout: local base and runtime images, development certificates, then the whole pipeline (tag dindbundler-demo:latest unless BUNDLE_TAG is set).",
			"bundle*": "runs the whole pipeline: the default target.",
			"certs": "checks CERT_DIR (rootCA.crt, server certificate chain and expiry).",
			"certsGenerate": "(alias certs:generate) creates a development CA plus server and client certificates in CERT_DIR; existing files are never overwritten.",
			"deploy": "runs the producer for every TEMPLATE whose images or manifest are out of date.",
			"dindbase": "builds the Debian DinD base image dindbundler/dind-base (debootstrap, no registry) unless it already exists.",
			"export": "writes the bundle as one file for the target machine: BUILD_DIR/<name>.tar.gz (EXPORT_COMPRESSION) with its .sha256 and load.sh; with EXPORT_AGAINST (a previous export file or bundle tag) only the layers that bundle lacks.",
			"image": "builds the bundle image (BUNDLE_TAG) from dind/, the stack's files and the stored layers.",
			"inspect": "prints what a bundle carries: images (kind, size, compressed), shared layers, compose services, certificates and expiry, .env keys.",
			"manifest": "merges the per-template manifests into BUILD_DIR/bundle/manifest.json.",
			"pull": "fetches the manifest's external images that are missing locally.",
			"save": "files every manifest image in the layer store (BUILD_DIR/layers): each layer once, by digest; only new images are exported.",
		}

		keys := make([]string, 0, len(targets))
		for name := range targets {
			keys = append(keys, name)
		}
		_sort.Strings(keys)

		_fmt.Println("Targets:")
		w := _tabwriter.NewWriter(_os.Stdout, 0, 4, 4, ' ', 0)
		for _, name := range keys {
			_fmt.Fprintf(w, "  %v\t%v\n", printName(name), targets[name])
		}
		err := w.Flush()
			if err == nil {
				_fmt.Println("\n* default target")
			}
		return err
	}

	var ctx _context.Context
	ctxCancel := func(){}

	// by deferring in a closure, we let the cancel function get replaced
	// by the getContext function.
	defer func() {
		ctxCancel()
	}()

	getContext := func() (_context.Context, func()) {
		if ctx == nil {
			if args.Timeout != 0 {
				ctx, ctxCancel = _context.WithTimeout(_context.Background(), args.Timeout)
			} else {
				ctx, ctxCancel = _context.WithCancel(_context.Background())
			}
		}

		return ctx, ctxCancel
	}

	runTarget := func(logger *_log.Logger, fn func(_context.Context) error) interface{} {
		var err interface{}
		ctx, cancel := getContext()
		d := make(chan interface{})
		go func() {
			defer func() {
				err := recover()
				d <- err
			}()
			err := fn(ctx)
			d <- err
		}()
		sigCh := make(chan _os.Signal, 1)
		_signal.Notify(sigCh, _syscall.SIGINT)
		select {
		case <-sigCh:
			logger.Println("cancelling mage targets, waiting up to 5 seconds for cleanup...")
			cancel()
			cleanupCh := _time.After(5 * _time.Second)

			select {
			// target exited by itself
			case err = <-d:
				return err
			// cleanup timeout exceeded
			case <-cleanupCh:
				return _fmt.Errorf("cleanup timeout exceeded")
			// second SIGINT received
			case <-sigCh:
				logger.Println("exiting mage")
				return _fmt.Errorf("exit forced")
			}
		case <-ctx.Done():
			cancel()
			e := ctx.Err()
			_fmt.Printf("ctx err: %v\n", e)
			return e
		case err = <-d:
			// we intentionally don't cancel the context here, because
			// the next target will need to run with the same _context.
			return err
		}
	}
	// This is necessary in case there aren't any targets, to avoid an unused
	// variable error.
	_ = runTarget

	handleError := func(logger *_log.Logger, err interface{}) {
		if err != nil {
			logger.Printf("Error: %+v\n", err)
			type code interface {
				ExitStatus() int
			}
			if c, ok := err.(code); ok {
				_os.Exit(c.ExitStatus())
			}
			_os.Exit(1)
		}
	}
	_ = handleError

	// Set MAGEFILE_VERBOSE so mg.Verbose() reflects the flag value.
	if args.Verbose {
		_os.Setenv("MAGEFILE_VERBOSE", "1")
	} else {
		_os.Setenv("MAGEFILE_VERBOSE", "0")
	}

	_log.SetFlags(0)
	if !args.Verbose {
		_log.SetOutput(_io.Discard)
	}
	logger := _log.New(_os.Stderr, "", 0)
	if args.List {
		if err := list(); err != nil {
			_log.Println(err)
			_os.Exit(1)
		}
		return
	}

	if args.Help {
		if len(args.Args) < 1 {
			logger.Println("no target specified")
			_os.Exit(2)
		}
		switch _strings.ToLower(args.Args[0]) {
			case "bench":
				_fmt.Println("Bench measures the pipeline against the seed tool's docker save + docker build on a synthetic stack (BENCH_SIZE, default 1GiB; BENCH_IMAGES, 8; BENCH_COMPRESSIBLE, 0.5; BENCH_COMPRESSIONS, none,gzip,zstd) on each engine of BENCH_ENGINES (default host; e.g. host,28-classic,28-containerd), full runs BENCH_RUNS and boots BENCH_BOOTS times (default 1), and writes the table to BUILD_DIR/bench/results.{txt,md,json}.")
				_fmt.Println()
				
				_fmt.Print("Usage:\n\n\tmage bench\n\n")
				var aliases []string
				
				if len(aliases) > 0 {
					_sort.Strings(aliases)
					_fmt.Printf("Aliases: %s\n\n", _strings.Join(aliases, ", "))
				}
				return
				case "demo":
				_fmt.Println("Demo bundles examples/demo on a fresh checkout: local base and runtime images, development certificates, then the whole pipeline (tag dindbundler-demo:latest unless BUNDLE_TAG is set).")
				_fmt.Println()
				
				_fmt.Print("Usage:\n\n\tmage demo\n\n")
				var aliases []string
				
				if len(aliases) > 0 {
					_sort.Strings(aliases)
					_fmt.Printf("Aliases: %s\n\n", _strings.Join(aliases, ", "))
				}
				return
				case "bundle":
				_fmt.Println("Bundle runs the whole pipeline: the default target.")
				_fmt.Println()
				
				_fmt.Print("Usage:\n\n\tmage bundle\n\n")
				var aliases []string
				
				if len(aliases) > 0 {
					_sort.Strings(aliases)
					_fmt.Printf("Aliases: %s\n\n", _strings.Join(aliases, ", "))
				}
				return
				case "certs":
				_fmt.Println("Certs checks CERT_DIR (rootCA.crt, server certificate chain and expiry). It never creates certificates.")
				_fmt.Println()
				
				_fmt.Print("Usage:\n\n\tmage certs\n\n")
				var aliases []string
				
				if len(aliases) > 0 {
					_sort.Strings(aliases)
					_fmt.Printf("Aliases: %s\n\n", _strings.Join(aliases, ", "))
				}
				return
				case "certsgenerate":
				_fmt.Println("CertsGenerate (alias certs:generate) creates a development CA plus server and client certificates in CERT_DIR; existing files are never overwritten.")
				_fmt.Println()
				
				_fmt.Print("Usage:\n\n\tmage certsgenerate\n\n")
				var aliases []string
				aliases = append(aliases, "certs:generate")
				if len(aliases) > 0 {
					_sort.Strings(aliases)
					_fmt.Printf("Aliases: %s\n\n", _strings.Join(aliases, ", "))
				}
				return
				case "deploy":
				_fmt.Println("Deploy runs the producer for every TEMPLATE whose images or manifest are out of date.")
				_fmt.Println()
				
				_fmt.Print("Usage:\n\n\tmage deploy\n\n")
				var aliases []string
				
				if len(aliases) > 0 {
					_sort.Strings(aliases)
					_fmt.Printf("Aliases: %s\n\n", _strings.Join(aliases, ", "))
				}
				return
				case "dindbase":
				_fmt.Println("Dindbase builds the Debian DinD base image dindbundler/dind-base (debootstrap, no registry) unless it already exists.")
				_fmt.Println()
				
				_fmt.Print("Usage:\n\n\tmage dindbase\n\n")
				var aliases []string
				
				if len(aliases) > 0 {
					_sort.Strings(aliases)
					_fmt.Printf("Aliases: %s\n\n", _strings.Join(aliases, ", "))
				}
				return
				case "export":
				_fmt.Println("Export writes the bundle as one file for the target machine: BUILD_DIR/<name>.tar.gz (EXPORT_COMPRESSION) with its .sha256 and load.sh; with EXPORT_AGAINST (a previous export file or bundle tag) only the layers that bundle lacks.")
				_fmt.Println()
				
				_fmt.Print("Usage:\n\n\tmage export\n\n")
				var aliases []string
				
				if len(aliases) > 0 {
					_sort.Strings(aliases)
					_fmt.Printf("Aliases: %s\n\n", _strings.Join(aliases, ", "))
				}
				return
				case "image":
				_fmt.Println("Image builds the bundle image (BUNDLE_TAG) from dind/, the stack's files and the stored layers.")
				_fmt.Println()
				
				_fmt.Print("Usage:\n\n\tmage image\n\n")
				var aliases []string
				
				if len(aliases) > 0 {
					_sort.Strings(aliases)
					_fmt.Printf("Aliases: %s\n\n", _strings.Join(aliases, ", "))
				}
				return
				case "inspect":
				_fmt.Println("Inspect prints what a bundle carries: images (kind, size, compressed), shared layers, compose services, certificates and expiry, .env keys. INSPECT_BUNDLE: a tag (default BUNDLE_TAG) or an exported file; INSPECT_FORMAT=json for scripts.")
				_fmt.Println()
				
				_fmt.Print("Usage:\n\n\tmage inspect\n\n")
				var aliases []string
				
				if len(aliases) > 0 {
					_sort.Strings(aliases)
					_fmt.Printf("Aliases: %s\n\n", _strings.Join(aliases, ", "))
				}
				return
				case "manifest":
				_fmt.Println("Manifest merges the per-template manifests into BUILD_DIR/bundle/manifest.json.")
				_fmt.Println()
				
				_fmt.Print("Usage:\n\n\tmage manifest\n\n")
				var aliases []string
				
				if len(aliases) > 0 {
					_sort.Strings(aliases)
					_fmt.Printf("Aliases: %s\n\n", _strings.Join(aliases, ", "))
				}
				return
				case "pull":
				_fmt.Println("Pull fetches the manifest's external images that are missing locally.")
				_fmt.Println()
				
				_fmt.Print("Usage:\n\n\tmage pull\n\n")
				var aliases []string
				
				if len(aliases) > 0 {
					_sort.Strings(aliases)
					_fmt.Printf("Aliases: %s\n\n", _strings.Join(aliases, ", "))
				}
				return
				case "save":
				_fmt.Println("Save files every manifest image in the layer store (BUILD_DIR/layers): each layer once, by digest; only new images are exported.")
				_fmt.Println()
				
				_fmt.Print("Usage:\n\n\tmage save\n\n")
				var aliases []string
				
				if len(aliases) > 0 {
					_sort.Strings(aliases)
					_fmt.Printf("Aliases: %s\n\n", _strings.Join(aliases, ", "))
				}
				return
				default:
				logger.Printf("Unknown target: %q\n", args.Args[0])
				_os.Exit(2)
		}
	}
	if len(args.Args) < 1 {
		ignoreDefault, _ := _strconv.ParseBool(_os.Getenv("MAGEFILE_IGNOREDEFAULT"))
		if ignoreDefault {
			if err := list(); err != nil {
				logger.Println("Error:", err)
				_os.Exit(1)
			}
			return
		}
		
				wrapFn := func(ctx _context.Context) error {
					return targets_mageimport.Bundle(ctx)
				}
				ret := runTarget(logger, wrapFn)
		handleError(logger, ret)
		return
	}
	for x := 0; x < len(args.Args); {
		target := args.Args[x]
		x++

		// resolve aliases
		switch _strings.ToLower(target) {
		
			case "certs:generate":
				target = "CertsGenerate"
		}

		switch _strings.ToLower(target) {
		
		
		
			
				case "bench":
					expected := x + 0
					if expected > len(args.Args) {
						// note that expected and args at this point include the arg for the target itself
						// so we subtract 1 here to show the number of args without the target.
						logger.Printf("not enough arguments for target \"Bench\", expected %v, got %v\n", expected-1, len(args.Args)-1)
						_os.Exit(2)
					}
					if args.Verbose {
						logger.Println("Running target:", "Bench")
					}
					
				wrapFn := func(ctx _context.Context) error {
					return dev_mageimport.Bench(ctx)
				}
				ret := runTarget(logger, wrapFn)
					handleError(logger, ret)
				case "demo":
					expected := x + 0
					if expected > len(args.Args) {
						// note that expected and args at this point include the arg for the target itself
						// so we subtract 1 here to show the number of args without the target.
						logger.Printf("not enough arguments for target \"Demo\", expected %v, got %v\n", expected-1, len(args.Args)-1)
						_os.Exit(2)
					}
					if args.Verbose {
						logger.Println("Running target:", "Demo")
					}
					
				wrapFn := func(ctx _context.Context) error {
					return dev_mageimport.Demo(ctx)
				}
				ret := runTarget(logger, wrapFn)
					handleError(logger, ret)
		
			
				case "bundle":
					expected := x + 0
					if expected > len(args.Args) {
						// note that expected and args at this point include the arg for the target itself
						// so we subtract 1 here to show the number of args without the target.
						logger.Printf("not enough arguments for target \"Bundle\", expected %v, got %v\n", expected-1, len(args.Args)-1)
						_os.Exit(2)
					}
					if args.Verbose {
						logger.Println("Running target:", "Bundle")
					}
					
				wrapFn := func(ctx _context.Context) error {
					return targets_mageimport.Bundle(ctx)
				}
				ret := runTarget(logger, wrapFn)
					handleError(logger, ret)
				case "certs":
					expected := x + 0
					if expected > len(args.Args) {
						// note that expected and args at this point include the arg for the target itself
						// so we subtract 1 here to show the number of args without the target.
						logger.Printf("not enough arguments for target \"Certs\", expected %v, got %v\n", expected-1, len(args.Args)-1)
						_os.Exit(2)
					}
					if args.Verbose {
						logger.Println("Running target:", "Certs")
					}
					
				wrapFn := func(ctx _context.Context) error {
					return targets_mageimport.Certs(ctx)
				}
				ret := runTarget(logger, wrapFn)
					handleError(logger, ret)
				case "certsgenerate":
					expected := x + 0
					if expected > len(args.Args) {
						// note that expected and args at this point include the arg for the target itself
						// so we subtract 1 here to show the number of args without the target.
						logger.Printf("not enough arguments for target \"CertsGenerate\", expected %v, got %v\n", expected-1, len(args.Args)-1)
						_os.Exit(2)
					}
					if args.Verbose {
						logger.Println("Running target:", "CertsGenerate")
					}
					
				wrapFn := func(ctx _context.Context) error {
					return targets_mageimport.CertsGenerate(ctx)
				}
				ret := runTarget(logger, wrapFn)
					handleError(logger, ret)
				case "deploy":
					expected := x + 0
					if expected > len(args.Args) {
						// note that expected and args at this point include the arg for the target itself
						// so we subtract 1 here to show the number of args without the target.
						logger.Printf("not enough arguments for target \"Deploy\", expected %v, got %v\n", expected-1, len(args.Args)-1)
						_os.Exit(2)
					}
					if args.Verbose {
						logger.Println("Running target:", "Deploy")
					}
					
				wrapFn := func(ctx _context.Context) error {
					return targets_mageimport.Deploy(ctx)
				}
				ret := runTarget(logger, wrapFn)
					handleError(logger, ret)
				case "dindbase":
					expected := x + 0
					if expected > len(args.Args) {
						// note that expected and args at this point include the arg for the target itself
						// so we subtract 1 here to show the number of args without the target.
						logger.Printf("not enough arguments for target \"Dindbase\", expected %v, got %v\n", expected-1, len(args.Args)-1)
						_os.Exit(2)
					}
					if args.Verbose {
						logger.Println("Running target:", "Dindbase")
					}
					
				wrapFn := func(ctx _context.Context) error {
					return targets_mageimport.Dindbase(ctx)
				}
				ret := runTarget(logger, wrapFn)
					handleError(logger, ret)
				case "export":
					expected := x + 0
					if expected > len(args.Args) {
						// note that expected and args at this point include the arg for the target itself
						// so we subtract 1 here to show the number of args without the target.
						logger.Printf("not enough arguments for target \"Export\", expected %v, got %v\n", expected-1, len(args.Args)-1)
						_os.Exit(2)
					}
					if args.Verbose {
						logger.Println("Running target:", "Export")
					}
					
				wrapFn := func(ctx _context.Context) error {
					return targets_mageimport.Export(ctx)
				}
				ret := runTarget(logger, wrapFn)
					handleError(logger, ret)
				case "image":
					expected := x + 0
					if expected > len(args.Args) {
						// note that expected and args at this point include the arg for the target itself
						// so we subtract 1 here to show the number of args without the target.
						logger.Printf("not enough arguments for target \"Image\", expected %v, got %v\n", expected-1, len(args.Args)-1)
						_os.Exit(2)
					}
					if args.Verbose {
						logger.Println("Running target:", "Image")
					}
					
				wrapFn := func(ctx _context.Context) error {
					return targets_mageimport.Image(ctx)
				}
				ret := runTarget(logger, wrapFn)
					handleError(logger, ret)
				case "inspect":
					expected := x + 0
					if expected > len(args.Args) {
						// note that expected and args at this point include the arg for the target itself
						// so we subtract 1 here to show the number of args without the target.
						logger.Printf("not enough arguments for target \"Inspect\", expected %v, got %v\n", expected-1, len(args.Args)-1)
						_os.Exit(2)
					}
					if args.Verbose {
						logger.Println("Running target:", "Inspect")
					}
					
				wrapFn := func(ctx _context.Context) error {
					return targets_mageimport.Inspect(ctx)
				}
				ret := runTarget(logger, wrapFn)
					handleError(logger, ret)
				case "manifest":
					expected := x + 0
					if expected > len(args.Args) {
						// note that expected and args at this point include the arg for the target itself
						// so we subtract 1 here to show the number of args without the target.
						logger.Printf("not enough arguments for target \"Manifest\", expected %v, got %v\n", expected-1, len(args.Args)-1)
						_os.Exit(2)
					}
					if args.Verbose {
						logger.Println("Running target:", "Manifest")
					}
					
				wrapFn := func(ctx _context.Context) error {
					return targets_mageimport.Manifest(ctx)
				}
				ret := runTarget(logger, wrapFn)
					handleError(logger, ret)
				case "pull":
					expected := x + 0
					if expected > len(args.Args) {
						// note that expected and args at this point include the arg for the target itself
						// so we subtract 1 here to show the number of args without the target.
						logger.Printf("not enough arguments for target \"Pull\", expected %v, got %v\n", expected-1, len(args.Args)-1)
						_os.Exit(2)
					}
					if args.Verbose {
						logger.Println("Running target:", "Pull")
					}
					
				wrapFn := func(ctx _context.Context) error {
					return targets_mageimport.Pull(ctx)
				}
				ret := runTarget(logger, wrapFn)
					handleError(logger, ret)
				case "save":
					expected := x + 0
					if expected > len(args.Args) {
						// note that expected and args at this point include the arg for the target itself
						// so we subtract 1 here to show the number of args without the target.
						logger.Printf("not enough arguments for target \"Save\", expected %v, got %v\n", expected-1, len(args.Args)-1)
						_os.Exit(2)
					}
					if args.Verbose {
						logger.Println("Running target:", "Save")
					}
					
				wrapFn := func(ctx _context.Context) error {
					return targets_mageimport.Save(ctx)
				}
				ret := runTarget(logger, wrapFn)
					handleError(logger, ret)
		default:
			logger.Printf("Unknown target specified: %q\n", target)
			_os.Exit(2)
		}
	}
}




