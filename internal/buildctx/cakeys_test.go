package buildctx

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/matryer/is"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/dindbundler/dindbundler/dind"
)

// dind/Dockerfile's RUN refuses the CA key names caKeyNames lists, no more, no fewer: a build by
// hand refuses what the context plan refuses.
func TestDockerfileRefusesCAKeyNames(t *testing.T) {
	is := is.New(t)
	res, err := parser.Parse(bytes.NewReader(dind.Dockerfile))
	is.NoErr(err)
	var runs []string
	for _, n := range res.AST.Children {
		if strings.EqualFold(n.Value, "RUN") {
			runs = append(runs, n.Original)
		}
	}
	is.Equal(len(runs), 1) // the one RUN, which checks the certificates
	var names []string
	for _, m := range regexp.MustCompile(`-iname '([^']+)'`).FindAllStringSubmatch(runs[0], -1) {
		names = append(names, m[1])
	}
	is.Equal(names, caKeyNames) // the Dockerfile's find lists caKeyNames, in order
	for _, n := range caKeyNames {
		is.True(caKeyName("certs/sub/" + strings.ToUpper(n))) // refused whatever the case, at any depth
	}
	is.True(!caKeyName("certs/server.key"))
}
