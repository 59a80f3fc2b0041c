package sam

import (
	"testing"

	"github.com/matryer/is"
)

// TestParseBuildMetadata: Metadata.BuildMethod and BuildProperties of functions and layers,
// with intrinsic functions resolved and YAML types kept.
func TestParseBuildMetadata(t *testing.T) {
	is := is.New(t)
	tpl, err := parseString(t, `
Parameters:
  Target: {Type: String, Default: es2022}
Resources:
  Bundled:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/, Handler: app.handler, Runtime: nodejs20.x, Layers: [!Ref Deps]}
    Metadata:
      BuildMethod: esbuild
      BuildProperties:
        Minify: false
        Target: !Ref Target
        EntryPoints: [app.ts]
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layer/, CompatibleRuntimes: [nodejs20.x]}
    Metadata: {BuildMethod: nodejs20.x, BuildArchitecture: arm64}
  Plain:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: plain/, Handler: app.handler, Runtime: python3.12}
`, Options{})
	is.NoErr(err)
	f := functionByID(t, tpl, "Bundled")
	is.Equal(f.BuildMethod, "esbuild")
	is.Equal(f.BuildProperties, map[string]any{"Minify": false, "Target": "es2022", "EntryPoints": []any{"app.ts"}})
	is.Equal(len(f.Layers), 1)
	is.Equal(f.Layers[0].BuildMethod, "nodejs20.x")
	is.Equal(f.Layers[0].BuildArchitecture, "arm64")
	plain := functionByID(t, tpl, "Plain")
	is.Equal(plain.BuildMethod, "")
	is.Equal(plain.BuildProperties, nil)

	_, err = parseString(t, `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/, Handler: app.handler, Runtime: nodejs20.x}
    Metadata: {BuildMethod: esbuild, BuildProperties: [Minify]}
`, Options{})
	resourceError(t, err, "Fn", "Metadata.BuildProperties", "BuildProperties must be a mapping")
}

// functionByID is the template's function with logical ID id.
func functionByID(t *testing.T, tpl *Template, id string) Function {
	t.Helper()
	for _, f := range tpl.Functions {
		if f.LogicalID == id {
			return f
		}
	}
	t.Fatalf("no function %s in %v", id, tpl.Functions)
	return Function{}
}
