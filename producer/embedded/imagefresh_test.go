package embedded

import (
	"testing"

	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/matryer/is"
)

func TestImageKey(t *testing.T) {
	base := ImageBuild{
		Name: "p-fn:latest", Kind: manifest.KindFunction, Dockerfile: "Dockerfile", DockerfileText: "FROM base\n",
		BuildArgs: map[string]string{"PIP_INDEX_URL": "http://mirror/"}, Labels: map[string]string{"com.esb.function": "Fn"},
		From: []string{"base"}, Context: []ContextEntry{{Kind: EntryDir, Source: "/src/fn", Target: "task"}},
	}
	ids := map[string]string{"base": "sha256:aaa", "other": "sha256:ccc"}
	key := imageKey(base, ids)
	tests := []struct {
		name   string
		change func(b *ImageBuild, ids map[string]string)
		same   bool
	}{
		{"nothing", func(*ImageBuild, map[string]string) {}, true},
		{"an image it does not start from", func(_ *ImageBuild, ids map[string]string) { ids["other"] = "sha256:ddd" }, true},
		{"its base rebuilt", func(_ *ImageBuild, ids map[string]string) { ids["base"] = "sha256:bbb" }, false},
		{"its base removed", func(_ *ImageBuild, ids map[string]string) { delete(ids, "base") }, false},
		{"Dockerfile", func(b *ImageBuild, _ map[string]string) { b.DockerfileText += "ENV A=1\n" }, false},
		{"a build argument (mirror setting)", func(b *ImageBuild, _ map[string]string) {
			b.BuildArgs = map[string]string{"PIP_INDEX_URL": "http://other/"}
		}, false},
		{"a label", func(b *ImageBuild, _ map[string]string) { b.Labels = map[string]string{"com.esb.function": "Other"} }, false},
		{"platform", func(b *ImageBuild, _ map[string]string) { b.Platform = "linux/arm64" }, false},
		{"where the code lies", func(b *ImageBuild, _ map[string]string) {
			b.Context = []ContextEntry{{Kind: EntryDir, Source: "/src/other", Target: "task"}}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			b := base
			b.BuildArgs, b.Labels = copyMap(base.BuildArgs), copyMap(base.Labels)
			now := copyMap(ids)
			tt.change(&b, now)
			is.Equal(imageKey(b, now) == key, tt.same)
		})
	}
}

func TestDecideImage(t *testing.T) {
	rec := &imageRecord{Key: "k1", Image: manifest.Image{Digest: "sha256:111"}}
	tests := []struct {
		name  string
		facts imageFacts
		fresh bool
		why   string
	}{
		{"unchanged", imageFacts{Recorded: rec, Key: "k1", EngineID: "sha256:111"}, true, "unchanged"},
		{"forced", imageFacts{Force: true, Recorded: rec, Key: "k1", EngineID: "sha256:111"}, false, "FORCE is set"},
		{"first run", imageFacts{Key: "k1", EngineID: "sha256:111"}, false, "not built before"},
		{"plan entry changed", imageFacts{Recorded: rec, Key: "k2", EngineID: "sha256:111"}, false, "its build changed (Dockerfile, build arguments, labels, platform, or the images it starts from)"},
		{"a file changed", imageFacts{Recorded: rec, Key: "k1", Changed: "/src/fn/app.py", EngineID: "sha256:111"}, false, "/src/fn/app.py changed"},
		{"image removed", imageFacts{Recorded: rec, Key: "k1"}, false, "the engine no longer has it"},
		{"name moved to another image", imageFacts{Recorded: rec, Key: "k1", EngineID: "sha256:222"}, false, "the engine's image of that name is another one (built or tagged since)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			d := decideImage(tt.facts)
			is.Equal(d.Fresh, tt.fresh)
			is.Equal(d.Reason, tt.why)
		})
	}
}

func TestImageInputs(t *testing.T) {
	is := is.New(t)
	in, ex := imageInputs(ImageBuild{Context: []ContextEntry{
		{Kind: EntryDir, Source: "/p/code", Exclude: []string{"/p/code/.esb"}},
		{Kind: EntryText, Target: "task/index.py"},
		{Kind: EntryZip, Source: "/p/layer.zip"},
		{Kind: EntryDir, Source: "/p/code"},
	}})
	is.Equal(in, []string{"/p/code", "/p/layer.zip"}) // sorted, once each, none for generated text
	is.Equal(ex, []string{"/p/code/.esb"})
}
