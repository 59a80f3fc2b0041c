package bench

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/dindbundler/dindbundler/internal/config"
)

// The function bundles: the stack's services plus function images the bundle's registry serves
// (named under FunctionRegistry). Each function image is FROM a base the harness builds (FROM
// scratch, the static benchmark binary, one data layer) plus one small layer of its own, built
// by the embedded producer from a SAM Image function's DockerContext, as a stack's are.
const (
	// FunctionBaseSize is the data layer every function of the functions bundle shares: a
	// runtime's worth of bytes.
	FunctionBaseSize = 64 << 20
	// FunctionOwnSize is each function image's own layer by default (BENCH_FUNCTION_OWN; in
	// the sizes bundle at most that, a small size function's a quarter of its size).
	FunctionOwnSize = 1 << 20
	// FunctionRegistry is CONTAINER_REGISTRY of the function bundles (the stack's default).
	FunctionRegistry = config.DefaultContainerRegistry
	// PushRegistryAddr is where the stand-in for the upstream's registry:2 (dev/bench/pushreg)
	// listens inside the bundle for the upstream way's pushes.
	PushRegistryAddr = "127.0.0.1:5011"
	// pushregPath is where the stand-in registry is copied into the bundle.
	pushregPath = "/usr/local/bin/bench-pushreg"
)

// Names of the function bundles: their project and build directories and bundle tags.
const (
	FunctionsBundle = "functions" // the services and o.Functions function images
	SizesBundle     = "sizes"     // the running service and two functions per BENCH_FUNCTION_SIZES
)

// FunctionBase is an image function images are built FROM.
type FunctionBase struct {
	Tag  string // <prefix>fnbase-<name>:latest
	Data Layer
}

// Function is one function image: its SAM function on Base, with its own layer.
type Function struct {
	Name string // the SAM FunctionName: "fn-001", "size-100mib-a"
	Base FunctionBase
	Own  Layer
	// Row is the report row of a sizes bundle's function's first call ("" in the functions
	// bundle): FirstCallRowIDs.
	Row string
}

// FunctionBundle is a bundle with function images: its compose services and its functions.
type FunctionBundle struct {
	Name      string
	Services  []Image
	Bases     []FunctionBase
	Functions []Function
}

// SizeLabel names a size in image and function names: "100mib", "1gib", "1536kib".
func SizeLabel(n int64) string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10}} {
		if n%u.mult == 0 {
			return fmt.Sprintf("%d%s", n/u.mult, u.name)
		}
	}
	return fmt.Sprintf("%db", n)
}

// FunctionOwnOf is the own layer of a sizes bundle's function of size n.
func FunctionOwnOf(n int64) int64 { return min(int64(FunctionOwnSize), n/4) }

// FunctionBundles plans the functions bundle (nil when o.Functions is 0): every service of s and
// o.Functions functions sharing one base; and the sizes bundle (nil without o.FunctionSizes):
// the running service and, per size, functions "a" and "b" sharing a base, each image of about
// that size in all.
func (s Stack) FunctionBundles(o Options) (functions, sizes *FunctionBundle) {
	if o.Functions > 0 {
		base := FunctionBase{Tag: s.Prefix + "fnbase-functions:latest", Data: Layer{Name: "fn-base", Size: FunctionBaseSize}}
		b := &FunctionBundle{Name: FunctionsBundle, Services: s.Images, Bases: []FunctionBase{base}}
		for i := 1; i <= o.Functions; i++ {
			name := fmt.Sprintf("fn-%03d", i)
			b.Functions = append(b.Functions, Function{Name: name, Base: base, Own: Layer{Name: name + "-own", Size: o.FunctionOwn}})
		}
		functions = b
	}
	if len(o.FunctionSizes) > 0 {
		b := &FunctionBundle{Name: SizesBundle, Services: s.Images[:1]}
		for _, n := range o.FunctionSizes {
			label := SizeLabel(n)
			own := FunctionOwnOf(n)
			base := FunctionBase{Tag: s.Prefix + "fnbase-" + label + ":latest", Data: Layer{Name: "size-" + label + "-base", Size: n - own}}
			b.Bases = append(b.Bases, base)
			for i, v := range []string{"a", "b"} {
				name := "size-" + label + "-" + v
				b.Functions = append(b.Functions, Function{Name: name, Base: base, Own: Layer{Name: name + "-own", Size: own}, Row: FirstCallRowIDs(n)[2*i]})
			}
		}
		sizes = b
	}
	return functions, sizes
}

// Layers are the generated files the bundle's images are built from, each once.
func (b FunctionBundle) Layers() []Layer {
	var out []Layer
	for _, base := range b.Bases {
		out = append(out, base.Data)
	}
	for _, f := range b.Functions {
		out = append(out, f.Own)
	}
	return out
}

// FunctionBaseDockerfile builds a function base: FROM scratch, the benchmark binary as the
// function (`-call` answers one call and exits), the data layer.
func FunctionBaseDockerfile(b FunctionBase) string {
	return fmt.Sprintf("FROM scratch\nCOPY svc /fn\nCOPY %s.bin /data/%s.bin\nENTRYPOINT [\"/fn\", \"-call\"]\n", b.Data.Name, b.Data.Name)
}

// FunctionDockerfile is a function's DockerContext Dockerfile: its base and its own layer (the
// file own.bin beside it).
func FunctionDockerfile(f Function) string {
	return fmt.Sprintf("# Generated by the dindbundler benchmark: function %s.\nFROM %s\nCOPY own.bin /data/%s.bin\n", f.Name, f.Base.Tag, f.Own.Name)
}

// FunctionDir is a function's DockerContext, relative to the project.
func FunctionDir(f Function) string { return "functions/" + f.Name }

// logicalID is a CloudFormation logical ID for a function name: alphanumeric, "fn-001" → Fn001.
func logicalID(name string) string {
	var b strings.Builder
	up := true
	for _, r := range name {
		switch {
		case r == '-' || r == '_':
			up = true
		case up:
			b.WriteRune(unicode.ToUpper(r))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Template is the bundle's SAM template: one Image function per function, built from its
// DockerContext.
func (b FunctionBundle) Template() string {
	var t strings.Builder
	t.WriteString("AWSTemplateFormatVersion: \"2010-09-09\"\nTransform: AWS::Serverless-2016-10-31\nDescription: dindbundler benchmark stack with function images.\nResources:\n")
	for _, f := range b.Functions {
		fmt.Fprintf(&t, "  %s:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: %s\n      PackageType: Image\n    Metadata:\n      Dockerfile: Dockerfile\n      DockerContext: %s\n", logicalID(f.Name), f.Name, FunctionDir(f))
	}
	return t.String()
}

// ImageName is the name the producer gives f's image: under FunctionRegistry, IMAGE_PREFIX
// project (RunSettings with functions), tag latest.
func (s Stack) ImageName(f Function) string {
	return FunctionRegistry + "/" + s.Project + "-" + f.Name + ":latest"
}

// FirstCallRow is the row of f's first call.
func FirstCallRow(f Function) string { return f.Row }

// FirstCallRowIDs are the rows of the first calls of size n: the first function's time and
// bytes, then the second's (sharing the base).
func FirstCallRowIDs(n int64) []string {
	l := SizeLabel(n)
	return []string{"fn.first." + l, "fn.first." + l + ".bytes", "fn.second." + l, "fn.second." + l + ".bytes"}
}

// FunctionRowIDs are the rows of the functions bundle's boots (boots) and of the first calls
// (calls).
func FunctionRowIDs(o Options, boots, calls bool) []string {
	var ids []string
	if boots && o.Functions > 0 {
		ids = append(ids, "fn.boot.seed", "fn.boot.ours", "fn.boot.none", "fn.boot.upstream", "fn.ready.upstream", "fn.push.upstream",
			"fn.preload.ours", "fn.restart.ours", "fn.restart.registry", "fn.restart.moved")
	}
	if calls {
		for _, n := range o.FunctionSizes {
			ids = append(ids, FirstCallRowIDs(n)...)
		}
	}
	return ids
}

// RegistryPull is one pull the bundle's registry logged.
type RegistryPull struct {
	Name    string // the image's full name
	Bytes   int64  // the bytes the registry sent: manifest, config and the blobs the engine lacked
	Seconds float64
	Blobs   int
}

// registryPullLine is internal/registry's pull line: "pull NAME: N bytes (…) in S s, B blobs".
var registryPullLine = regexp.MustCompile(`pull (\S+): (\d+) bytes \([^)]*\) in ([0-9.]+) s, (\d+) blobs`)

// RegistryPulls reads the pulls from the bundle's registry log, in order.
func RegistryPulls(log string) []RegistryPull {
	var out []RegistryPull
	for _, m := range registryPullLine.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		s, _ := strconv.ParseFloat(m[3], 64)
		b, _ := strconv.Atoi(m[4])
		out = append(out, RegistryPull{Name: m[1], Bytes: n, Seconds: s, Blobs: b})
	}
	return out
}

// FindLine finds the first line of timedLog (`docker logs -t`) at or after since that contains
// substr, with its time.
func FindLine(timedLog, substr string, since time.Time) (time.Time, string, bool) {
	for _, line := range strings.Split(timedLog, "\n") {
		stamp, text, ok := strings.Cut(line, " ")
		if !ok || !strings.Contains(text, substr) {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil || t.Before(since) {
			continue
		}
		return t, text, true
	}
	return time.Time{}, "", false
}

// MovedOnRestart counts what a restart moved again, from the container's timed log since the
// restart and the pulls the registry logged since (registryPulls): a load of the bundled images
// counts once, each image pulled once (the entrypoint's "pulled" lines or the registry's, the
// larger).
func MovedOnRestart(timedLog string, since time.Time, registryPulls int) int {
	loads, pulls := 0, 0
	for _, line := range strings.Split(timedLog, "\n") {
		stamp, text, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, stamp); err != nil || t.Before(since) {
			continue
		}
		switch {
		case strings.Contains(text, "dindbundler: loading images"):
			loads++
		case strings.Contains(text, "dindbundler: pulled ") && !strings.Contains(text, " function images in "):
			pulls++
		}
	}
	return loads + max(pulls, registryPulls)
}

// PushScript is the upstream way's seeding as a shell script run in the bundle: start the
// stand-in registry on PushRegistryAddr, wait for it (10 s at most), then tag and push every
// image under it, one after the other.
func PushScript(names []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "set -e\n%s serve %s >/var/log/bench-pushreg.log 2>&1 &\n", pushregPath, PushRegistryAddr)
	fmt.Fprintf(&b, "i=0\nuntil %s ping %s >/dev/null 2>&1; do i=$((i + 1)); [ \"$i\" -lt 100 ] || { echo 'the stand-in registry did not start'; cat /var/log/bench-pushreg.log; exit 1; }; sleep 0.1; done\n", pushregPath, PushRegistryAddr)
	b.WriteString("for n in")
	for _, n := range names {
		b.WriteString(" " + n)
	}
	fmt.Fprintf(&b, "; do\n\tt=%s/${n#*/}\n\tdocker tag \"$n\" \"$t\"\n\tdocker push -q \"$t\" >/dev/null\ndone\n", PushRegistryAddr)
	return b.String()
}
