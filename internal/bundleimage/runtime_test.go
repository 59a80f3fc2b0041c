package bundleimage

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/dindbundler/dindbundler/dind"
)

var update = flag.Bool("update", false, "write dind/Dockerfile's runtime settings from BundleRuntime")

// dockerfilePath is dind/Dockerfile from this package's directory (where go test runs).
const dockerfilePath = "../../dind/Dockerfile"

// tailMarker ends the comment above the lines of dind/Dockerfile written from BundleRuntime.
const tailMarker = "#   go test ./internal/bundleimage -run TestDockerfileRuntimeTail -update\n# which rewrites the lines below; the test fails while they differ.\n"

// dind/Dockerfile's runtime tail (what follows its RUN) is written from BundleRuntime and says
// what it says: the image the classic builder makes of it and the one Assemble puts together run
// alike. Checked here without an engine, so a setting changed in one place only fails at once
// (-update writes the lines); TestAssembledLikeBuilt compares the two images on every engine.
func TestDockerfileRuntimeTail(t *testing.T) {
	is := is.New(t)
	data, err := os.ReadFile(dockerfilePath)
	is.NoErr(err)
	head, written, found := strings.Cut(string(data), tailMarker)
	if !found {
		t.Fatalf("%s lacks the comment that ends in %q above its runtime settings", dockerfilePath, tailMarker)
	}
	want := dockerfileTail(BundleRuntime)
	if *update && written != want {
		data = []byte(head + tailMarker + want)
		is.NoErr(os.WriteFile(dockerfilePath, data, 0o644))
		t.Logf("wrote the runtime settings into %s", dockerfilePath)
	}
	if !*update {
		is.Equal(string(data), string(dind.Dockerfile)) // the file as embedded
		if written != want {
			t.Errorf("dind/Dockerfile's runtime settings are not BundleRuntime's (internal/bundleimage/runtime.go): run go test ./internal/bundleimage -run TestDockerfileRuntimeTail -update\nwant:\n%s\nhave:\n%s", want, written)
		}
	}
	got, err := dockerfileRuntime(data)
	is.NoErr(err) // nothing but runtime settings after the RUN
	is.True(equalJSON(t, got, BundleRuntime))
}

// The tail is read as the builder reads it: a setting BundleRuntime has no field for is refused,
// so it cannot be added to the Dockerfile alone.
func TestDockerfileRuntimeRead(t *testing.T) {
	tests := []struct {
		name, tail string
		want       Runtime // when wantErr is empty
		wantErr    string
	}{
		{"every setting", dockerfileTail(BundleRuntime), BundleRuntime, ""},
		{"continued lines, one option in minutes", "ENV BUNDLE_PROJECT=${BUNDLE_PROJECT}\nHEALTHCHECK --interval=1m \\\n  CMD [\"/x\", \"health\"]\nCMD [\"sh\"]\n",
			Runtime{Env: []string{"BUNDLE_PROJECT"}, Healthcheck: Healthcheck{Test: []string{"CMD", "/x", "health"}, Interval: time.Minute}, Cmd: []string{"sh"}}, ""},
		{"a label", "LABEL a=b\n", Runtime{}, "LABEL, which Runtime has no field for"},
		{"an ENV with a fixed value", "ENV A=b\n", Runtime{}, "ENV A=b: only a build argument's value (A=${A})"},
		{"an ENV of no build argument", "ENV B=${B}\n", Runtime{}, "ENV B: no ARG B"},
		{"a shell-form ENTRYPOINT", "ENTRYPOINT /x\n", Runtime{}, "ENTRYPOINT: exec form"},
		{"STOPSIGNAL twice", "STOPSIGNAL SIGTERM\nSTOPSIGNAL SIGINT\n", Runtime{}, "STOPSIGNAL twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := dockerfileRuntime([]byte("FROM x\nARG BUNDLE_PROJECT\nRUN true\n" + tt.tail))
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr)) // names the instruction and why
				return
			}
			is.NoErr(err)
			is.True(equalJSON(t, got, tt.want))
		})
	}
}

// The build arguments PlanContext gives are dind/Dockerfile's ARGs, no more, no fewer: a value
// the Dockerfile does not read, or an ARG left to its default, would make the two ways to the
// image differ.
func TestBuildArgsAreTheDockerfiles(t *testing.T) {
	is := is.New(t)
	res, err := parser.Parse(bytes.NewReader(dind.Dockerfile))
	is.NoErr(err)
	var declared []string
	for _, n := range res.AST.Children {
		if strings.EqualFold(n.Value, "ARG") {
			name, _, _ := strings.Cut(n.Next.Value, "=")
			declared = append(declared, name)
		}
	}
	slices.Sort(declared)
	is.Equal(slices.Sorted(maps.Keys(buildArgs(ContextRequest{}))), declared)
}

func TestApplyRuntime(t *testing.T) {
	is := is.New(t)
	rc := map[string]any{"Env": []any{"PATH=/bin", "BUNDLE_PROJECT=old"}, "Volumes": map[string]any{"/data": map[string]any{}}, "Cmd": []any{"sh"}}
	BundleRuntime.Apply(rc, map[string]string{"BUNDLE_PROJECT": "esb", "RUN_UID": "0"})
	is.Equal(rc["Env"], []any{"PATH=/bin", "BUNDLE_PROJECT=esb"}) // the base's environment, the project replaced
	is.Equal(len(rc["Volumes"].(map[string]any)), 2)              // the base's volumes and /var/lib/docker
	is.Equal(rc["Entrypoint"], []string{dind.EntrypointPath})
	is.Equal(rc["Cmd"], []string{}) // CMD [] resets the base's
	is.Equal(rc["StopSignal"], "SIGTERM")
	// As the engine reads a config: durations in nanoseconds, the test in exec form.
	data, err := json.Marshal(rc["Healthcheck"])
	is.NoErr(err)
	is.Equal(string(data), `{"Interval":10000000000,"Retries":3,"StartPeriod":300000000000,"Test":["CMD","/usr/local/bin/dindbundler-entrypoint.sh","health"],"Timeout":20000000000}`)
}

// dockerfileRuntime reads the runtime settings a Dockerfile's tail (the instructions after its
// last RUN) sets, refusing any BundleRuntime cannot say.
func dockerfileRuntime(dockerfile []byte) (Runtime, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return Runtime{}, err
	}
	nodes := res.AST.Children
	args := map[string]bool{}
	tail := 0
	for i, n := range nodes {
		switch strings.ToUpper(n.Value) {
		case "ARG":
			name, _, _ := strings.Cut(n.Next.Value, "=")
			args[name] = true
		case "RUN":
			tail = i + 1
		}
	}
	var r Runtime
	seen := map[string]bool{}
	for _, n := range nodes[tail:] {
		instr := strings.ToUpper(n.Value)
		var words []string
		for w := n.Next; w != nil; w = w.Next {
			words = append(words, w.Value)
		}
		if seen[instr] && instr != "ENV" && instr != "VOLUME" {
			return Runtime{}, fmt.Errorf("%s twice", instr)
		}
		seen[instr] = true
		execForm := n.Attributes["json"]
		switch instr {
		case "ENV":
			for i := 0; i+1 < len(words); i += 3 { // name, value, "="
				name, value := words[i], words[i+1]
				if value != "${"+name+"}" {
					return Runtime{}, fmt.Errorf("ENV %s=%s: only a build argument's value (%s=${%s}) is a runtime setting here", name, value, name, name)
				}
				if !args[name] {
					return Runtime{}, fmt.Errorf("ENV %s: no ARG %s", name, name)
				}
				r.Env = append(r.Env, name)
			}
		case "VOLUME":
			r.Volumes = append(r.Volumes, words...)
		case "STOPSIGNAL":
			r.StopSignal = strings.Join(words, " ")
		case "HEALTHCHECK":
			if !execForm {
				return Runtime{}, fmt.Errorf("HEALTHCHECK: exec form (CMD [...]) expected")
			}
			r.Healthcheck.Test = words
			for _, f := range n.Flags {
				name, value, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
				var d time.Duration
				if name == "retries" {
					r.Healthcheck.Retries, err = strconv.Atoi(value)
				} else {
					d, err = time.ParseDuration(value)
				}
				if err != nil {
					return Runtime{}, fmt.Errorf("HEALTHCHECK %s: %w", f, err)
				}
				switch name {
				case "interval":
					r.Healthcheck.Interval = d
				case "timeout":
					r.Healthcheck.Timeout = d
				case "start-period":
					r.Healthcheck.StartPeriod = d
				case "retries":
				default:
					return Runtime{}, fmt.Errorf("HEALTHCHECK %s, which Runtime has no field for: add it to Runtime and Apply", f)
				}
			}
		case "ENTRYPOINT", "CMD":
			if !execForm {
				return Runtime{}, fmt.Errorf("%s: exec form ([...]) expected", instr)
			}
			if words == nil {
				words = []string{}
			}
			if instr == "CMD" {
				r.Cmd = words
			} else {
				r.Entrypoint = words
			}
		default:
			return Runtime{}, fmt.Errorf("dind/Dockerfile's runtime tail sets %s, which Runtime has no field for: add it to Runtime and Apply", instr)
		}
	}
	return r, nil
}

// dockerfileTail is r as Dockerfile instructions, for the message that says how to fix the file.
func dockerfileTail(r Runtime) string {
	var b strings.Builder
	for _, name := range r.Env {
		fmt.Fprintf(&b, "ENV %s=${%s}\n", name, name)
	}
	if len(r.Volumes) > 0 {
		fmt.Fprintf(&b, "VOLUME %s\n", strings.Join(r.Volumes, " "))
	}
	if r.StopSignal != "" {
		fmt.Fprintf(&b, "STOPSIGNAL %s\n", r.StopSignal)
	}
	if h := r.Healthcheck; h.Test != nil {
		seconds := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s" }
		fmt.Fprintf(&b, "HEALTHCHECK --interval=%s --timeout=%s --start-period=%s --retries=%d \\\n    %s %s\n",
			seconds(h.Interval), seconds(h.Timeout), seconds(h.StartPeriod), h.Retries, h.Test[0], execForm(h.Test[1:]))
	}
	if r.Entrypoint != nil {
		fmt.Fprintf(&b, "ENTRYPOINT %s\n", execForm(r.Entrypoint))
	}
	if r.Cmd != nil {
		fmt.Fprintf(&b, "CMD %s\n", execForm(r.Cmd))
	}
	return b.String()
}

func execForm(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = strconv.Quote(w)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// equalJSON compares two values as their JSON (nil and empty lists differ, as in an image
// config).
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Logf("got  %s\nwant %s", x, y)
		return false
	}
	return true
}
