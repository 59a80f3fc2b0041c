package bundleimage

import (
	"slices"
	"strings"
	"time"

	"github.com/dindbundler/dindbundler/dind"
)

// Runtime is the bundle image's runtime settings on top of its base's configuration: what
// dind/Dockerfile's tail (ENV … CMD, after its one RUN) sets. BundleRuntime is the one place
// they are said: Assemble applies it to the image it puts together, TestDockerfileRuntimeTail
// writes dind/Dockerfile's tail from it (-update) and checks, without an engine, that the tail
// says the same (TestAssembledLikeBuilt then compares the two images on every engine).
type Runtime struct {
	// Env names build arguments the image keeps as environment variables (ENV NAME=${NAME}), in
	// this order after the base's; a base variable of the same name is replaced.
	Env         []string
	Volumes     []string // added to the base's
	StopSignal  string
	Healthcheck Healthcheck
	Entrypoint  []string
	// Cmd replaces the base's CMD; empty resets it (arguments given to `docker run` then go to
	// the entrypoint instead of replacing the bundle with a command).
	Cmd []string
}

// Healthcheck is a HEALTHCHECK with its options: Test is its exec form ("CMD", command, args…).
type Healthcheck struct {
	Test                           []string
	Interval, Timeout, StartPeriod time.Duration
	Retries                        int
}

// BundleRuntime is the bundle image's runtime settings, the one place they are said: after a
// change, `go test ./internal/bundleimage -run TestDockerfileRuntimeTail -update` writes them
// into dind/Dockerfile. The bundle is healthy once every compose service runs and is healthy
// where it has a healthcheck; the long start period covers loading a large archive on first
// boot. STOPSIGNAL SIGTERM lets the entrypoint stop the stack, then the inner engine. CMD []
// resets the base's CMD: extra arguments would otherwise replace the bundle with a command.
var BundleRuntime = Runtime{
	Env:        []string{"BUNDLE_PROJECT"},
	Volumes:    []string{"/var/lib/docker"},
	StopSignal: "SIGTERM",
	Healthcheck: Healthcheck{
		Test:     []string{"CMD", dind.EntrypointPath, "health"},
		Interval: 10 * time.Second, Timeout: 20 * time.Second, StartPeriod: 300 * time.Second, Retries: 3,
	},
	Entrypoint: []string{dind.EntrypointPath},
	Cmd:        []string{},
}

// Apply sets r in an image's runtime configuration rc (the "config" object of an image config,
// as decoded JSON), taking the values of r.Env from args (the build arguments).
func (r Runtime) Apply(rc map[string]any, args map[string]string) {
	var env []any
	for _, e := range asList(rc["Env"]) {
		if s, _ := e.(string); !slices.ContainsFunc(r.Env, func(name string) bool { return strings.HasPrefix(s, name+"=") }) {
			env = append(env, e)
		}
	}
	for _, name := range r.Env {
		env = append(env, name+"="+args[name])
	}
	rc["Env"] = env
	volumes, _ := rc["Volumes"].(map[string]any)
	if volumes == nil {
		volumes = map[string]any{}
	}
	for _, v := range r.Volumes {
		volumes[v] = map[string]any{}
	}
	rc["Volumes"] = volumes
	rc["StopSignal"] = r.StopSignal
	h := r.Healthcheck
	rc["Healthcheck"] = map[string]any{
		"Test":     slices.Clone(h.Test),
		"Interval": h.Interval, "Timeout": h.Timeout, "StartPeriod": h.StartPeriod, "Retries": h.Retries,
	}
	rc["Entrypoint"] = slices.Clone(r.Entrypoint)
	rc["Cmd"] = append([]string{}, r.Cmd...)
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
